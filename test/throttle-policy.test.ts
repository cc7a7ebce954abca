import fc from 'fast-check';
import { normaliseEmail } from '../src/auth/email-address.ts';
import {
  accountSubject,
  attemptKeys,
  delayAfterFailures,
  passwordSubject,
  refusalAfterCounting,
  resetEmailKeys,
  THROTTLE,
  ThrottleService,
  type Factor,
  type Source,
} from '../src/auth/throttle.ts';
import { MemoryThrottleStore } from './support/memory-throttle.ts';

/** The throttle's decisions, on an in-memory store with a clock the test moves. */
let store: MemoryThrottleStore;
let throttle: ThrottleService;
let slept: number[];

beforeEach(() => {
  store = new MemoryThrottleStore();
  slept = [];
  throttle = new ThrottleService(store, async (ms) => void slept.push(ms), store.clock);
});

const ALICE = accountSubject('7c1f0e2a-0000-4000-8000-000000000001');
const BOB = accountSubject('7c1f0e2a-0000-4000-8000-000000000002');
const SCHOOL_IP = '203.0.113.10';
const untrusted = (ip = SCHOOL_IP): Source => ({ ip });
const device = (id: string): Source => ({ ip: SCHOOL_IP, device: id });

/** One wrong credential: the attempt (counted first), then the failure it turned out to be. */
async function fail(factor: Factor, subject: string, source: Source) {
  const gate = await throttle.attempt(factor, subject, source);
  if (!gate.allowed) return gate;
  return (await throttle.failed(factor, subject, source)).refusal ?? gate;
}

async function failTimes(n: number, factor: Factor, subject: string, source: (i: number) => Source) {
  const results = [];
  for (let i = 0; i < n; i += 1) results.push(await fail(factor, subject, source(i)));
  return results;
}

/** A different IP for every attempt, so only the per-account streak is in play. */
const spread = (i: number) => untrusted(`198.51.100.${i % 250}`);

describe('short locks per (IP, account)', () => {
  test('the 10th failure from one IP locks that account from that IP only', async () => {
    const results = await failTimes(THROTTLE.lockAfter, 'password', ALICE, () => untrusted());
    expect(results.slice(0, -1).every((r) => r.allowed)).toBe(true);
    expect(results.at(-1)).toMatchObject({ allowed: false, kind: 'paused' });
    expect(await throttle.attempt('password', ALICE, untrusted())).toMatchObject({ allowed: false, kind: 'paused' });
    // A colleague on the same school IP, and the same account from another IP, are not refused.
    expect(await throttle.attempt('password', BOB, untrusted())).toMatchObject({ allowed: true });
    expect(await throttle.attempt('password', ALICE, untrusted('192.0.2.1'))).toMatchObject({ allowed: true });
  });

  test('failures spread over many accounts from one IP refuse nobody', async () => {
    for (let i = 0; i < 60; i += 1) {
      expect(await fail('password', accountSubject(`00000000-0000-4000-8000-${String(i).padStart(12, '0')}`), untrusted())).toMatchObject({
        allowed: true,
      });
    }
    expect(await throttle.attempt('password', ALICE, untrusted())).toEqual({ allowed: true, delayMs: 0 });
  });

  test('a lock ends exactly when it says', async () => {
    const results = await failTimes(THROTTLE.lockAfter, 'password', ALICE, () => untrusted());
    const lock = results.at(-1)!;
    if (lock.allowed || lock.kind !== 'paused') throw new Error('expected a short lock');
    expect(lock.until.getTime()).toBe(store.now + THROTTLE.lockSeconds * 1000);
    store.advance(THROTTLE.lockSeconds * 1000 - 1);
    expect(await throttle.attempt('password', ALICE, untrusted())).toEqual({ allowed: false, kind: 'paused', until: lock.until });
    store.advance(1);
    // The lock has ended, and the window with it: the next attempt starts a new count.
    expect(await throttle.attempt('password', ALICE, untrusted())).toEqual({ allowed: true, delayMs: 0 });
  });

  test('attempts after the third failure wait 1, 2, 4, then 8 s; a success starts again', async () => {
    await failTimes(8, 'password', ALICE, () => untrusted());
    expect(slept).toEqual([1000, 2000, 4000, 8000, 8000]);
    expect([0, 1, 2, 3, 4, 5, 6, 20].map(delayAfterFailures)).toEqual([0, 0, 0, 1000, 2000, 4000, 8000, 8000]);
    await throttle.succeeded('password', ALICE, untrusted());
    expect(await throttle.attempt('password', ALICE, untrusted())).toEqual({ allowed: true, delayMs: 0 });
  });

  test('attempts sent in parallel are counted before they are checked', async () => {
    const gates = await Promise.all(Array.from({ length: 30 }, () => throttle.attempt('code', ALICE, untrusted())));
    expect(gates.filter((gate) => gate.allowed)).toHaveLength(THROTTLE.lockAfter);
  });
});

describe('consecutive failures per account and factor', () => {
  test(`the ${THROTTLE.blockAfter}th consecutive failure locks the factor until it is released, whatever the time`, async () => {
    const results = await failTimes(THROTTLE.blockAfter, 'password', ALICE, spread);
    expect(results.slice(0, -1).every((r) => r.allowed)).toBe(true);
    expect(results.at(-1)).toEqual({ allowed: false, kind: 'blocked' });
    store.advance(365 * 24 * 3600 * 1000);
    expect(await throttle.attempt('password', ALICE, untrusted('192.0.2.99'))).toEqual({ allowed: false, kind: 'blocked' });
    // Codes are a different factor, and other accounts are not touched.
    expect(await throttle.attempt('code', ALICE, untrusted('192.0.2.99'))).toMatchObject({ allowed: true });
    expect(await throttle.attempt('password', BOB, untrusted('192.0.2.99'))).toMatchObject({ allowed: true });
    expect(await throttle.release({ id: ALICE.slice('account:'.length) })).toBeGreaterThan(0);
    expect(await throttle.attempt('password', ALICE, untrusted('192.0.2.99'))).toMatchObject({ allowed: true });
  });

  test('the helpdesk release lifts both factors and every device of that account, and nothing else', async () => {
    const alice = { id: ALICE.slice('account:'.length) };
    await failTimes(THROTTLE.blockAfter, 'password', ALICE, spread);
    await failTimes(THROTTLE.blockAfter, 'code', ALICE, spread);
    await failTimes(THROTTLE.lockAfter, 'code', ALICE, () => device('laptop'));
    await failTimes(THROTTLE.blockAfter, 'password', BOB, spread);
    await throttle.release(alice);
    expect(await throttle.attempt('password', ALICE, untrusted('192.0.2.9'))).toEqual({ allowed: true, delayMs: 0 });
    expect(await throttle.attempt('code', ALICE, untrusted('192.0.2.9'))).toEqual({ allowed: true, delayMs: 0 });
    expect(await throttle.attempt('code', ALICE, device('laptop'))).toEqual({ allowed: true, delayMs: 0 });
    expect(await throttle.attempt('password', BOB, untrusted('192.0.2.9'))).toEqual({ allowed: false, kind: 'blocked' });
  });

  test('only a success of that factor clears the count', async () => {
    await failTimes(THROTTLE.blockAfter - 1, 'code', ALICE, spread);
    await throttle.succeeded('password', ALICE, untrusted());
    expect(await fail('code', ALICE, untrusted('192.0.2.5'))).toEqual({ allowed: false, kind: 'blocked' });

    await failTimes(THROTTLE.blockAfter - 1, 'password', BOB, spread);
    const gate = await throttle.attempt('password', BOB, untrusted('192.0.2.6'));
    expect(gate.allowed).toBe(true);
    await throttle.succeeded('password', BOB, untrusted('192.0.2.6'));
    const again = await failTimes(THROTTLE.blockAfter - 1, 'password', BOB, spread);
    expect(again.filter((r) => !r.allowed)).toEqual([]);
    expect(await fail('password', BOB, untrusted('192.0.2.7'))).toEqual({ allowed: false, kind: 'blocked' });
  });

  test('the person is to be warned once, when the count passes the warning mark', async () => {
    const warnings: boolean[] = [];
    for (let i = 0; i < THROTTLE.warnAfter + 5; i += 1) {
      await throttle.attempt('password', ALICE, spread(i));
      warnings.push((await throttle.failed('password', ALICE, spread(i))).warn);
    }
    expect(warnings.indexOf(true)).toBe(THROTTLE.warnAfter);
    expect(warnings.filter(Boolean)).toHaveLength(1);
    // A new run of failures after a success warns again.
    await throttle.attempt('password', ALICE, spread(0));
    await throttle.succeeded('password', ALICE, spread(0));
    for (let i = 0; i <= THROTTLE.warnAfter; i += 1) {
      await throttle.attempt('password', ALICE, spread(i));
      warnings.push((await throttle.failed('password', ALICE, spread(i))).warn);
    }
    expect(warnings.filter(Boolean)).toHaveLength(2);
  });

  test('failures from a trusted device count towards the warning too', async () => {
    await failTimes(THROTTLE.warnAfter + 1 - THROTTLE.lockAfter, 'code', ALICE, spread);
    const fromDevice = [];
    for (let i = 0; i < THROTTLE.lockAfter; i += 1) {
      await throttle.attempt('code', ALICE, device('laptop'));
      fromDevice.push((await throttle.failed('code', ALICE, device('laptop'))).warn);
    }
    expect(fromDevice).toEqual([...Array(THROTTLE.lockAfter - 1).fill(false), true]);
  });
});

describe('trusted devices (device cookies)', () => {
  test('a trusted device keeps its own budget while the account is locked for everyone else', async () => {
    await failTimes(THROTTLE.blockAfter, 'password', ALICE, spread);
    expect(await throttle.attempt('password', ALICE, untrusted())).toEqual({ allowed: false, kind: 'blocked' });
    const gate = await throttle.attempt('password', ALICE, device('own-laptop'));
    expect(gate).toEqual({ allowed: true, delayMs: 0 });
    // Its success does not lift the lock others caused: only the helpdesk does.
    await throttle.succeeded('password', ALICE, device('own-laptop'));
    expect(await throttle.attempt('password', ALICE, untrusted())).toEqual({ allowed: false, kind: 'blocked' });
  });

  test('failures from one device lock that device, not the others', async () => {
    const results = await failTimes(THROTTLE.lockAfter, 'password', ALICE, () => device('stolen'));
    expect(results.at(-1)).toMatchObject({ allowed: false, kind: 'paused' });
    expect(await throttle.attempt('password', ALICE, device('own-laptop'))).toMatchObject({ allowed: true });
  });

  test('a device is bounded too: its own consecutive failures lock it', async () => {
    const id = 'stolen';
    for (let i = 0; i < THROTTLE.blockAfter - 1; i += 1) {
      expect(await fail('code', ALICE, device(id))).toMatchObject({ allowed: true });
      if (i % (THROTTLE.lockAfter - 1) === THROTTLE.lockAfter - 2) store.advance(THROTTLE.lockSeconds * 1000 + 1);
    }
    store.advance(THROTTLE.lockSeconds * 1000 + 1);
    expect(await fail('code', ALICE, device(id))).toEqual({ allowed: false, kind: 'blocked' });
    expect(await throttle.attempt('code', ALICE, device(id))).toEqual({ allowed: false, kind: 'blocked' });
  });
});

describe('the account-wide ceiling', () => {
  test(`at ${THROTTLE.ceilingAfter} consecutive failures on the account every browser is refused, however many are trusted`, async () => {
    await failTimes(THROTTLE.blockAfter, 'password', ALICE, spread);
    // Each trusted browser stays under its own limits; together they reach the ceiling.
    const results = await failTimes(THROTTLE.ceilingAfter - THROTTLE.blockAfter, 'password', ALICE, (i) => device(`browser-${i % 25}`));
    expect(results.slice(0, -1).every((r) => r.allowed)).toBe(true);
    expect(results.at(-1)).toEqual({ allowed: false, kind: 'blocked' });
    expect(await throttle.attempt('password', ALICE, device('own-laptop'))).toEqual({ allowed: false, kind: 'blocked' });
    expect(await throttle.attempt('password', ALICE, device('browser-1'))).toEqual({ allowed: false, kind: 'blocked' });
    // Codes, and other accounts, are untouched; the helpdesk lifts it.
    expect(await throttle.attempt('code', ALICE, device('own-laptop'))).toMatchObject({ allowed: true });
    expect(await throttle.attempt('password', BOB, device('own-laptop'))).toMatchObject({ allowed: true });
    await throttle.release({ id: ALICE.slice('account:'.length) });
    expect(await throttle.attempt('password', ALICE, device('own-laptop'))).toMatchObject({ allowed: true });
  });

  test('attempts sent in parallel past the ceiling are refused once counted', async () => {
    await failTimes(THROTTLE.blockAfter, 'password', ALICE, spread);
    await failTimes(THROTTLE.ceilingAfter - THROTTLE.blockAfter - 1, 'password', ALICE, (i) => device(`browser-${i % 25}`));
    const gates = await Promise.all(Array.from({ length: 5 }, (_, i) => throttle.attempt('password', ALICE, device(`parallel-${i}`))));
    expect(gates.filter((gate) => gate.allowed)).toHaveLength(1);
  });
});

describe('the keys of the counters', () => {
  test('password, code and reset counters are kept apart, by account id', () => {
    const alice = { id: '7c1f0e2a-0000-4000-8000-000000000001' };
    expect(passwordSubject(alice, 'Whatever@Typed.example')).toBe(`account:${alice.id}`);
    expect(passwordSubject(null, ' Ｇhost@Hill.example ')).toBe(passwordSubject(null, 'ghost@hill.example'));
    expect(passwordSubject(null, 'ghost@hill.example')).toMatch(/^login:[A-Za-z0-9_-]{43}$/);
    expect(passwordSubject(null, 'ghost@hill.example')).not.toBe(passwordSubject(null, 'ghosts@hill.example'));
    const password = attemptKeys('password', ALICE, untrusted());
    const code = attemptKeys('code', ALICE, untrusted());
    const reset = resetEmailKeys(ALICE);
    const all = [password.window, password.streak, code.window, code.streak, reset.short, reset.daily];
    expect(new Set(all).size).toBe(all.length);
    expect(attemptKeys('password', BOB, untrusted()).window).not.toBe(password.window);
    expect(attemptKeys('password', ALICE, untrusted('192.0.2.1')).window).not.toBe(password.window);
    expect(attemptKeys('password', ALICE, device('a')).guard).not.toBe(attemptKeys('password', ALICE, device('b')).guard);
  });

  test('wrong passwords do not count against codes, nor codes against passwords', async () => {
    await failTimes(THROTTLE.lockAfter, 'password', ALICE, () => untrusted());
    expect(await throttle.attempt('code', ALICE, untrusted())).toEqual({ allowed: true, delayMs: 0 });
    await failTimes(THROTTLE.lockAfter, 'code', BOB, () => untrusted());
    expect(await throttle.attempt('password', BOB, untrusted())).toEqual({ allowed: true, delayMs: 0 });
  });

  test('password emails do not count against sign-in, nor sign-in against emails', async () => {
    const alice = { id: ALICE.slice('account:'.length) };
    for (let i = 0; i < 5; i += 1) await throttle.mayEmail(alice, 'alice@hill.example');
    expect(await throttle.attempt('password', ALICE, untrusted())).toEqual({ allowed: true, delayMs: 0 });
    await failTimes(THROTTLE.lockAfter, 'password', BOB, () => untrusted());
    expect(await throttle.mayEmail({ id: BOB.slice('account:'.length) }, 'bob@hill.example')).toBe(true);
  });
});

describe('password email caps, per address', () => {
  test(`the ${THROTTLE.resetEmailsPerAddress}th in 15 minutes is sent, the next is not; then a new window`, async () => {
    const answers = [];
    for (let i = 0; i <= THROTTLE.resetEmailsPerAddress; i += 1) answers.push(await throttle.mayEmail(null, 'busy@hill.example'));
    expect(answers).toEqual([...Array(THROTTLE.resetEmailsPerAddress).fill(true), false]);
    // Another spelling of the same address is the same address.
    expect(await throttle.mayEmail(null, 'BUSY@ｈｉｌｌ.example')).toBe(false);
    expect(await throttle.mayEmail(null, 'other@hill.example')).toBe(true);
    store.advance(THROTTLE.windowSeconds * 1000 + 1);
    expect(await throttle.mayEmail(null, 'busy@hill.example')).toBe(true);
  });

  test(`the ${THROTTLE.resetEmailsPerAddressPerDay}th in a day is sent, the next is not, however spread out`, async () => {
    const answers = [];
    for (let i = 0; i <= THROTTLE.resetEmailsPerAddressPerDay; i += 1) {
      answers.push(await throttle.mayEmail(null, 'patient@hill.example'));
      store.advance(THROTTLE.windowSeconds * 1000 + 1);
    }
    expect(answers).toEqual([...Array(THROTTLE.resetEmailsPerAddressPerDay).fill(true), false]);
    store.advance(THROTTLE.dayWindowSeconds * 1000);
    expect(await throttle.mayEmail(null, 'patient@hill.example')).toBe(true);
  });

  test('no cap per IP: 200 addresses from one school IP may each have an email', async () => {
    for (let i = 0; i < 200; i += 1) expect(await throttle.mayEmail(null, `new.starter.${i}@hill.example`)).toBe(true);
  });
});

describe('one normalisation of email addresses', () => {
  test('look-alike spellings become one address; different letters stay different', () => {
    expect(normaliseEmail('\u212Aate@Hill.example')).toBe('kate@hill.example'); // Kelvin sign
    expect(normaliseEmail('\u017Fam@hill.example')).toBe('sam@hill.example'); // long s
    expect(normaliseEmail('ｓａｍ＠ｈｉｌｌ.example')).toBe('sam@hill.example'); // fullwidth
    expect(normaliseEmail('Jose\u0301@hill.example')).toBe(normaliseEmail('Jos\u00e9@hill.example')); // combining vs precomposed
    expect(normaliseEmail('  tim@hill.example ')).toBe('tim@hill.example');
    // İ folds to i + a combining dot, in JavaScript as in Unicode's full case folding: another address.
    expect(normaliseEmail('T\u0130M@hill.example')).toBe('ti\u0307m@hill.example');
    expect(normaliseEmail('T\u0130M@hill.example')).not.toBe(normaliseEmail('tim@hill.example'));
  });

  test('normalising twice changes nothing', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => normaliseEmail(normaliseEmail(s)) === normaliseEmail(s)),
      { numRuns: 20_000 },
    );
  });
});

describe('refusals after counting (attempts that raced past the standing check)', () => {
  const NOW = new Date('2026-01-05T09:00:00Z');
  const window = (count: number, lockedUntil: Date | null = null) => ({ count, lockedUntil });
  const streak = (count: number) => ({ count, lockedAt: null });

  test(`beyond ${THROTTLE.blockAfter} consecutive failures the attempt is blocked, even with a short window`, () => {
    expect(refusalAfterCounting(window(1), streak(THROTTLE.blockAfter + 1), streak(1), NOW)).toEqual({ allowed: false, kind: 'blocked' });
    expect(refusalAfterCounting(window(1), streak(THROTTLE.blockAfter), streak(1), NOW)).toBeNull();
  });

  test(`beyond ${THROTTLE.lockAfter} in the window it is paused until the window's lock, or for the lock time from now`, () => {
    const until = new Date(NOW.getTime() + 60_000);
    expect(refusalAfterCounting(window(THROTTLE.lockAfter + 1, until), streak(1), streak(1), NOW)).toEqual({
      allowed: false,
      kind: 'paused',
      until,
    });
    expect(refusalAfterCounting(window(THROTTLE.lockAfter + 1), streak(1), streak(1), NOW)).toEqual({
      allowed: false,
      kind: 'paused',
      until: new Date(NOW.getTime() + THROTTLE.lockSeconds * 1000),
    });
    expect(refusalAfterCounting(window(THROTTLE.lockAfter), streak(1), streak(1), NOW)).toBeNull();
  });
});

describe('the throttle with its real clock and sleep', () => {
  test('a standing lock is judged by the current time, and the delay is really waited', async () => {
    const real = new MemoryThrottleStore(Date.now());
    const keys = attemptKeys('password', ALICE, untrusted());
    await real.countWindow(keys.window, THROTTLE.windowSeconds, 1, THROTTLE.lockSeconds);
    expect(await new ThrottleService(real).attempt('password', ALICE, untrusted())).toMatchObject({ allowed: false, kind: 'paused' });
    const slow = new MemoryThrottleStore(Date.now());
    const other = attemptKeys('password', BOB, untrusted());
    for (let i = 0; i < THROTTLE.delayAfter; i += 1) await slow.countWindow(other.window, THROTTLE.windowSeconds, null, 0);
    const start = Date.now();
    expect(await new ThrottleService(slow).attempt('password', BOB, untrusted())).toEqual({ allowed: true, delayMs: 1000 });
    expect(Date.now() - start).toBeGreaterThanOrEqual(990);
  });
});
