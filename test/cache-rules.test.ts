import { ReadThroughCache } from '../src/db/read-through-cache.ts';
import { memoised, withRequestMemo } from '../src/domain/request-memo.ts';

/** The in-process caches' rules, without a database: what is kept, for how long, and what a change undoes. */
describe('read-through cache', () => {
  test('reads once, then serves the kept value until the key is forgotten', async () => {
    const cache = new ReadThroughCache<string>();
    let reads = 0;
    const load = async () => `v${++reads}`;
    expect(await cache.get('k', load)).toBe('v1');
    expect(await cache.get('k', load)).toBe('v1');
    cache.forget('k');
    expect(await cache.get('k', load)).toBe('v2');
    cache.clear();
    expect(await cache.get('k', load)).toBe('v3');
  });

  test('a read that started before a change is returned but not kept', async () => {
    const cache = new ReadThroughCache<string>();
    let release!: (value: string) => void;
    const slow = cache.get('k', () => new Promise<string>((resolve) => (release = resolve)));
    cache.forget('other'); // any change while the read is in flight
    release('stale');
    expect(await slow).toBe('stale');
    expect(await cache.get('k', async () => 'fresh')).toBe('fresh');
  });

  test('values `keep` refuses are never kept, and the bound empties the cache rather than grow', async () => {
    const cache = new ReadThroughCache<string | undefined>({ keep: (value) => value !== undefined, maxEntries: 2 });
    await cache.get('unknown', async () => undefined);
    expect(cache.size).toBe(0);
    await cache.get('a', async () => 'a');
    await cache.get('b', async () => 'b');
    await cache.get('c', async () => 'c');
    expect(cache.size).toBe(1);
  });
});

describe('request memo', () => {
  test('inside one request a read is made once; outside, every time', async () => {
    let reads = 0;
    const read = () => memoised('account:1', async () => ++reads);
    expect(await withRequestMemo(async () => [await read(), await read()])).toEqual([1, 1]);
    expect(await withRequestMemo(read)).toBe(2);
    expect([await read(), await read()]).toEqual([3, 4]);
  });

  test('a failed read is not remembered', async () => {
    let attempts = 0;
    const read = () =>
      memoised('flaky', async () => {
        attempts++;
        if (attempts === 1) throw new Error('connection lost');
        return 'ok';
      });
    await withRequestMemo(async () => {
      await expect(read()).rejects.toThrow('connection lost');
      expect(await read()).toBe('ok');
    });
  });
});
