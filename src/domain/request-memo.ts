import { AsyncLocalStorage } from 'node:async_hooks';

const memos = new AsyncLocalStorage<Map<string, Promise<unknown>>>();

/**
 * One provider request asks the same questions several times (the interaction policy's checks,
 * the grant, the claims, the audit event each read the account and its memberships). Within
 * `withRequestMemo`, a read keyed alike is made once and shared; outside it, every read is fresh.
 * Only reads that the provider's own requests never change are memoised.
 */
export function withRequestMemo<T>(work: () => Promise<T>): Promise<T> {
  return memos.run(new Map(), work);
}

export function memoised<T>(key: string, load: () => Promise<T>): Promise<T> {
  const memo = memos.getStore();
  if (!memo) return load();
  let pending = memo.get(key) as Promise<T> | undefined;
  if (!pending) {
    pending = load();
    memo.set(key, pending);
    // A failed read is not remembered: a retry in the same request reads again.
    pending.catch(() => memo.delete(key));
  }
  return pending;
}
