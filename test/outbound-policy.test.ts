import type dns from 'node:dns';
import { Writable } from 'node:stream';
import pino from 'pino';
import { ConfigError } from '../src/config/config-error.ts';
import { loadConfig } from '../src/config/index.ts';
import { parseOutboundAllow } from '../src/config/outbound-allow.ts';
import { afterFailure, DEFAULT_SCHEDULE } from '../src/domain/outbound.ts';
import { createDestinationPolicy, isLoopbackHost, normaliseHost } from '../src/domain/outbound-destinations.ts';
import { createOutboundFetch, OutboundRefusedError } from '../src/http/outbound-fetch.ts';
import { startLogoutReceiver } from './support/receiver.ts';

describe('OUTBOUND_ALLOW', () => {
  test('host names and CIDR ranges (a bare address is one address) are read, in any case', () => {
    const config = loadConfig({ OUTBOUND_ALLOW: ' MIS.Trust.Internal , 10.20.0.0/16,fd00::/8, 192.168.1.7 ,' });
    expect(config.outbound.allow).toEqual({
      hosts: ['mis.trust.internal'],
      ranges: [
        { address: '10.20.0.0', prefix: 16, family: 'ipv4' },
        { address: 'fd00::', prefix: 8, family: 'ipv6' },
        { address: '192.168.1.7', prefix: 32, family: 'ipv4' },
      ],
    });
    expect(loadConfig({}).outbound).toEqual({ allow: { hosts: [], ranges: [] }, retryBaseSeconds: 10 });
  });

  test.each(['10.0.0.0/33', '::1/129', '10.0.0.0/8/8', '10.1.2', 'mis_trust', 'https://mis.trust.internal', '*.trust.internal', 'a..b'])(
    '%s is refused at start, naming the entry',
    (entry) => {
      expect(() => loadConfig({ OUTBOUND_ALLOW: `ok.example, ${entry}` })).toThrow(ConfigError);
      expect(() => loadConfig({ OUTBOUND_ALLOW: `ok.example, ${entry}` })).toThrow(
        `Configuration error: OUTBOUND_ALLOW entry "${entry}" is neither a host name nor a CIDR range`,
      );
    },
  );

  test('OUTBOUND_RETRY_BASE_SECONDS must be a positive whole number', () => {
    expect(() => loadConfig({ OUTBOUND_RETRY_BASE_SECONDS: '0' })).toThrow(/^Configuration error: OUTBOUND_RETRY_BASE_SECONDS /);
  });
});

describe('which destinations may be called', () => {
  const production = createDestinationPolicy(
    'https://sso.trust.example',
    parseOutboundAllow('mis.trust.internal, 10.20.0.0/16, fd00:1::/32'),
  );

  test.each([
    ['8.8.8.8', true],
    ['2606:4700::1111', true],
    ['::ffff:8.8.8.8', true],
    ['127.0.0.1', false],
    ['127.8.9.10', false],
    ['::1', false],
    ['::ffff:127.0.0.1', false],
    ['::ffff:7f00:1', false],
    ['0:0:0:0:0:ffff:a00:1', false],
    ['10.0.0.1', false],
    ['172.16.5.4', false],
    ['192.168.0.10', false],
    ['169.254.169.254', false],
    ['100.64.0.1', false],
    ['0.0.0.0', false],
    ['fe80::1', false],
    ['fd12::1', false],
    ['::a00:1', false],
    ['::8.8.8.8', false],
    ['::', false],
    ['::ffff:0:0', false],
    ['10.20.30.40', true],
    ['fd00:1:2::3', true],
  ])('%s from an unlisted name: allowed %s', (address, allowed) => {
    expect(production.check('school.example', address).allowed).toBe(allowed);
  });

  test('a listed host name may resolve to a private address; other names resolving there may not', () => {
    expect(production.check('MIS.trust.internal.', '10.1.1.1').allowed).toBe(true);
    const refused = production.check('evil.example', '10.1.1.1');
    expect(refused).toEqual({ allowed: false, reason: expect.stringContaining('OUTBOUND_ALLOW') });
  });

  test.each(['http://localhost:3000', 'http://127.0.0.1:3000', 'http://[::1]:3000', 'http://gatehouse.localhost'])(
    'an ISSUER on loopback (%s) is development: loopback destinations are allowed, nothing else private',
    (issuer) => {
      const development = createDestinationPolicy(issuer, parseOutboundAllow(''));
      for (const address of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1'])
        expect(development.check('localhost', address).allowed).toBe(true);
      for (const address of [
        '192.168.1.20',
        '10.0.0.1',
        '172.16.5.4',
        '169.254.169.254',
        '100.64.0.1',
        'fd12::1',
        'fe80::1',
        '0.0.0.0',
        '::',
        '::a00:1',
        '::ffff:a9fe:a9fe',
      ]) {
        expect([address, development.check('mis.lan', address)]).toEqual([
          address,
          { allowed: false, reason: expect.stringContaining('OUTBOUND_ALLOW') },
        ]);
      }
      expect(development.check('8.8.8.8', '8.8.8.8').allowed).toBe(true);
    },
  );

  test('in development, private hosts are still reachable through OUTBOUND_ALLOW', () => {
    const development = createDestinationPolicy('http://localhost:3000', parseOutboundAllow('mis.lan, 10.20.0.0/16'));
    expect(development.check('mis.lan', '192.168.1.20').allowed).toBe(true);
    expect(development.check('other.lan', '10.20.1.1').allowed).toBe(true);
    expect(development.check('other.lan', '169.254.169.254').allowed).toBe(false);
  });
});

describe('the retry schedule', () => {
  const schedule = { ...DEFAULT_SCHEDULE, baseSeconds: 10 };
  const enqueued = new Date('2026-01-05T08:00:00Z');

  test('10 s doubling to at most 1 h, and given up once the next attempt would pass 24 h', () => {
    const delays: number[] = [];
    let now = enqueued;
    for (let attempts = 1; attempts < 100; attempts += 1) {
      const decision = afterFailure(attempts, enqueued, now, schedule);
      if (decision.giveUp) break;
      delays.push(decision.retryInSeconds);
      now = new Date(now.getTime() + decision.retryInSeconds * 1000);
    }
    expect(delays.slice(0, 10)).toEqual([10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]);
    expect(new Set(delays.slice(9))).toEqual(new Set([3600]));
    // 9 rising delays (1 h 25 min 10 s), then hourly: 32 attempts in all, the last at 23 h 25 min.
    expect(delays).toHaveLength(31);
    expect((now.getTime() - enqueued.getTime()) / 1000).toBe(5110 + 22 * 3600);
    expect(afterFailure(32, enqueued, now, schedule)).toEqual({ giveUp: true });
  });

  test('an attempt that falls exactly on the 24 h horizon is still made', () => {
    const hourBefore = new Date(enqueued.getTime() + 23 * 3600 * 1000);
    expect(afterFailure(20, enqueued, hourBefore, schedule)).toEqual({ giveUp: false, retryInSeconds: 3600 });
    expect(afterFailure(20, enqueued, new Date(hourBefore.getTime() + 1), schedule)).toEqual({ giveUp: true });
  });
});

describe('the outbound fetch (the provider’s fetch hook)', () => {
  let receiver: Awaited<ReturnType<typeof startLogoutReceiver>>;
  const logs: string[] = [];
  const logger = pino({ level: 'warn' }, new Writable({ write: (chunk, _encoding, done) => (logs.push(String(chunk)), done()) }));
  const post = (fetcher: ReturnType<typeof createOutboundFetch>, url: string) =>
    fetcher(url, {
      method: 'POST',
      headers: new Headers({ 'content-type': 'application/x-www-form-urlencoded', 'user-agent': '' }),
      body: new URLSearchParams({ logout_token: 'x' }),
    });

  beforeAll(async () => {
    receiver = await startLogoutReceiver((n) => ({ status: n === 1 ? 302 : 200 }));
  });
  afterAll(async () => {
    await receiver?.close();
  });

  test('with a public ISSUER, loopback is refused by address, by a name that resolves there, and in disguise, before connecting', async () => {
    const strict = createOutboundFetch(createDestinationPolicy('https://sso.trust.example', parseOutboundAllow('')), logger);
    for (const url of [
      `http://127.0.0.1:${receiver.port}/backchannel`,
      `http://localhost:${receiver.port}/backchannel`,
      `http://[::ffff:127.0.0.1]:${receiver.port}/backchannel`,
      `http://2130706433:${receiver.port}/backchannel`,
      `http://0x7f.1:${receiver.port}/backchannel`,
    ]) {
      await expect(post(strict, url)).rejects.toThrow(OutboundRefusedError);
    }
    expect(receiver.arrivals).toHaveLength(0);
    expect(logs.some((line) => line.includes('outbound call refused') && line.includes('OUTBOUND_ALLOW'))).toBe(true);
  });

  test('a name is refused when any address of its DNS answer is, not only the first', async () => {
    // A name answering a public and a private address: a connection may try either.
    const mixed = ((_hostname: string, _options: unknown, callback: (error: null, addresses: dns.LookupAddress[]) => void) =>
      callback(null, [
        { address: '93.184.216.34', family: 4 },
        { address: '10.0.0.1', family: 4 },
      ])) as unknown as typeof dns.lookup;
    const strict = createOutboundFetch(createDestinationPolicy('https://sso.trust.example', parseOutboundAllow('')), logger, mixed);
    await expect(post(strict, 'http://mixed.school.example/backchannel')).rejects.toThrow(OutboundRefusedError);
  });

  test('a listed range or host name is called; redirects are answered, not followed', async () => {
    const byRange = createOutboundFetch(createDestinationPolicy('https://sso.trust.example', parseOutboundAllow('127.0.0.0/8')), logger);
    const redirected = await post(byRange, `http://127.0.0.1:${receiver.port}/backchannel`);
    expect(redirected.status).toBe(302);
    const byName = createOutboundFetch(createDestinationPolicy('https://sso.trust.example', parseOutboundAllow('localhost')), logger);
    const response = await post(byName, `http://localhost:${receiver.port}/backchannel`);
    expect(response.status).toBe(200);
    expect(receiver.arrivals.map((arrival) => arrival.logoutToken)).toEqual(['x', 'x']);
  });
});

describe('IPv4 written as IPv6, and host names in URLs', () => {
  const policy = createDestinationPolicy('https://sso.trust.example', parseOutboundAllow('10.20.0.0/16'));

  test.each([
    ['::ffff:10.20.1.1', true],
    ['::FFFF:10.20.1.1', true],
    ['::ffff:a14:101', true],
    ['0:0:0:0:0:ffff:a14:101', true],
    ['::ffff:10.21.1.1', false],
    ['::ffff:a15:101', false],
  ])('a listed IPv4 range covers %s: allowed %s', (address, allowed) => {
    expect(policy.check('mis.example', address).allowed).toBe(allowed);
  });

  test('a refusal names the address as IPv4 when it was one in disguise', () => {
    expect(policy.check('evil.example', '::ffff:a00:1')).toEqual({
      allowed: false,
      reason: 'evil.example is a private or special-use address (10.0.0.1); list it in OUTBOUND_ALLOW to allow it',
    });
    expect(policy.check('evil.example', '::ffff:10.0.0.1')).toMatchObject({ reason: expect.stringContaining('(10.0.0.1)') });
    expect(policy.check('evil.example', 'fd00::ffff:a00:1')).toMatchObject({ reason: expect.stringContaining('(fd00::ffff:a00:1)') });
    expect(policy.check('evil.example', '100:0:0:0:0:ffff:a00:1')).toMatchObject({
      reason: expect.stringContaining('(100:0:0:0:0:ffff:a00:1)'),
    });
    // Not IPv4-mapped (group 6 is not ffff): judged as the IPv6 address it is.
    expect(policy.check('evil.example', '::fffe:a00:1')).toEqual({ allowed: true });
    expect(policy.check('evil.example', 'fe80::1:ffff:a00:1')).toMatchObject({ reason: expect.stringContaining('(fe80::1:ffff:a00:1)') });
  });

  test.each([
    ['localhost', true],
    ['LOCALHOST.', true],
    ['school.localhost', true],
    ['127.0.0.1', true],
    ['127.9.9.9', true],
    ['[::1]', true],
    ['[::ffff:127.0.0.1]', true],
    ['[::ffff:7f00:1]', true],
    ['[0:0:0:0:0:ffff:7f00:1]', true],
    ['[::2]', false],
    ['[::ffff:10.0.0.1]', false],
    ['128.0.0.1', false],
    ['localhost.example', false],
    ['mylocalhost', false],
  ])('%s is loopback: %s', (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback);
  });

  test('host names are compared in lower case, without IPv6 brackets or a trailing dot', () => {
    expect(normaliseHost('MIS.Trust.Internal.')).toBe('mis.trust.internal');
    expect(normaliseHost('[FD00::1]')).toBe('fd00::1');
    expect(normaliseHost('[fd00::1')).toBe('[fd00::1');
    expect(normaliseHost('fd00::1]')).toBe('fd00::1]');
  });
});
