import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { accountSubject, attemptKeys, passwordSubject, THROTTLE, ThrottleService } from '../src/auth/throttle.ts';
import type { ThrottleStore } from '../src/db/repositories/throttle.ts';
import { AuthenticationService } from '../src/domain/authentication.ts';
import { refusalOf } from '../src/interactions/refusals.ts';
import { createWords } from '../src/i18n/words.ts';
import { visibleText } from './support/agent.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { freePort, startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { MemoryThrottleStore } from './support/memory-throttle.ts';
import { NODE, ROOT, spawnGatehouse } from './support/process.ts';
import {
  addClient,
  addSchool,
  addStaff,
  Agent,
  authorizationRequest,
  PASSWORD,
  REDIRECT_URI,
  relyingParty,
  start,
  submitLogin,
} from './support/scenario.ts';
import { startSmtpServer } from './support/smtp.ts';

/** Said the same for an address nobody has. */
const BLOCKED = createWords({ serviceName: 'Gatehouse', helpdeskContact: undefined }).t('en', 'signin.refusal.blocked');

/**
 * Guessing and lockout end to end: two provider processes on one PostgreSQL database, client IPs
 * given through X-Forwarded-For (TRUST_PROXY), mail through a real SMTP server.
 */
let storage: TestStorage;
let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
let first: TestGatehouse;
let second: Awaited<ReturnType<typeof spawnGatehouse>>;
let credentials: { clientId: string; clientSecret: string };
let schoolId: string;

const SCHOOL_IP = '203.0.113.10';

beforeAll(async () => {
  storage = await createTestStorage();
  smtp = await startSmtpServer();
  first = await startTestGatehouse(storage, { TRUST_PROXY: 'true', SMTP_URL: smtp.url });
  // A second OS process on the same database (through the first's socket when embedded).
  second = await spawnGatehouse(storage, await freePort(), { ISSUER: first.issuer, TRUST_PROXY: 'true', SMTP_URL: smtp.url });
  schoolId = (await addSchool(first.services, 'Hill Primary School')).id;
  credentials = await addClient(first.services, 'Hill MIS', [schoolId]);
  await addStaff(first.services, 'target@hill.example', [{ schoolId, accessLevel: 'basic' }]);
}, 120_000);

afterAll(async () => {
  await second?.stop();
  await first?.close();
  await smtp?.close();
  await storage?.drop();
});

/** A browser at `ip`; pass one to keep its cookies (a device cookie among them). */
function browser(ip: string, agent = new Agent(REDIRECT_URI)) {
  agent.headers['x-forwarded-for'] = ip;
  return agent;
}

async function signIn(instance: { url: string }, agent: Agent, email: string, password: string) {
  const rp = await relyingParty(first.issuer, credentials);
  const login = await start(agent, await authorizationRequest(rp));
  // Post the form to the chosen instance: a flow may start on one process and finish on another.
  const onInstance = { ...login, url: login.url.replace(first.issuer, instance.url) };
  return submitLogin(agent, onInstance, email, password);
}

const sql = (text: string, values: unknown[] = []) => first.database.dataSource.query(text, values);

/** The same service as the server's, without the delays, for running many attempts quickly. */
function undelayedAuthentication(store: ThrottleStore = first.services.repositories.throttle) {
  const { repositories, authenticators, audit, mailer, logger } = first.services;
  return new AuthenticationService(repositories, new ThrottleService(store, async () => {}), authenticators, audit, mailer, logger);
}

async function admin(...args: string[]) {
  const env = { ...process.env, DATA_DIR: storage.dataDir, DATABASE_URL: storage.databaseUrl ?? '' };
  const { stdout } = await promisify(execFile)(NODE, ['src/admin/cli.ts', ...args, '--json'], { cwd: ROOT, env });
  return JSON.parse(stdout) as Record<string, unknown>;
}

test('failures counted on one process lock that IP and account on the other; the right password does not bypass it', async () => {
  const target = (await first.services.accounts.findByEmail('target@hill.example'))!;
  const ip = '192.0.2.20';
  await sql(`INSERT INTO auth_throttle (key, count, window_started_at) VALUES ($1, $2, now())`, [
    attemptKeys('password', passwordSubject(target, ''), { ip }).window,
    THROTTLE.lockAfter - 2,
  ]);
  expect((await signIn(first, browser(ip), 'Target@Hill.example', 'a wrong password, again')).status).toBe(401);
  const lockingOnSecond = await signIn(second, browser(ip), 'target@hill.example', 'yet another wrong password');
  expect(lockingOnSecond.status).toBe(429);
  expect(visibleText(lockingOnSecond.html)).toContain('Too many wrong attempts.');

  const rightButLocked = await signIn(first, browser(ip), 'target@hill.example', PASSWORD);
  expect(rightButLocked.status).toBe(429);
  expect(visibleText(rightButLocked.html)).toContain('Signing in is paused until');
  // Another spelling of the same address is the same account, so the same lock.
  expect((await signIn(first, browser(ip), 'ＴＡＲＧＥＴ@HILL.EXAMPLE', PASSWORD)).status).toBe(429);
  // The same account from another IP is not refused.
  expect((await signIn(second, browser('192.0.2.21'), 'target@hill.example', PASSWORD)).status).toBe(303);

  await first.services.accounts.setStatus('target@hill.example', 'active'); // user unlock
  expect((await signIn(second, browser(ip), 'target@hill.example', PASSWORD)).status).toBe(303);
}, 120_000);

test('an address nobody has is locked the same way, so a lock reveals nothing', async () => {
  const ip = '192.0.2.30';
  await sql(`INSERT INTO auth_throttle (key, count, window_started_at) VALUES ($1, $2, now())`, [
    attemptKeys('password', passwordSubject(null, 'ghost@hill.example'), { ip }).window,
    THROTTLE.lockAfter - 1,
  ]);
  expect((await signIn(second, browser(ip), 'Ghost@Hill.example', 'whatever it is')).status).toBe(429);
}, 60_000);

test(`codes sent in parallel are counted before they are checked: ${THROTTLE.lockAfter} per IP, ${THROTTLE.blockAfter} in all`, async () => {
  const account = (await first.services.accounts.findByEmail('target@hill.example'))!;
  const noDelay = new ThrottleService(first.services.repositories.throttle, async () => {});
  const subject = accountSubject(account.id);
  const fromOneIp = await Promise.all(Array.from({ length: 30 }, () => noDelay.attempt('code', subject, { ip: '192.0.2.40' })));
  expect(fromOneIp.filter((gate) => gate.allowed)).toHaveLength(THROTTLE.lockAfter);
  await first.services.throttle.release(account);
  const fromMany = await Promise.all(
    Array.from({ length: 80 }, (_, i) => noDelay.attempt('code', subject, { ip: `192.0.2.${100 + (i % 8)}` })),
  );
  expect(fromMany.filter((gate) => gate.allowed)).toHaveLength(THROTTLE.blockAfter);
  await first.services.throttle.release(account);
});

test('a right password does not reset the count of wrong codes', async () => {
  const account = (await first.services.accounts.findByEmail('target@hill.example'))!;
  const where = { ip: '192.0.2.77' };
  await sql(`INSERT INTO auth_throttle (key, count, window_started_at) VALUES ($1, $2, now())`, [
    attemptKeys('code', accountSubject(account.id), where).window,
    THROTTLE.lockAfter - 1,
  ]);
  expect(await first.services.authentication.checkPassword('target@hill.example', PASSWORD, where)).toMatchObject({ ok: true });
  expect(await first.services.authentication.checkCode(account, '000000', where)).toMatchObject({ ok: false, reason: 'throttled' });
  await first.services.throttle.release(account);
}, 60_000);

test('55 wrong passwords for other accounts from the school IP do not stop a colleague on that IP', async () => {
  await addStaff(first.services, 'colleague@hill.example', [{ schoolId, accessLevel: 'basic' }]);
  const noDelay = undelayedAuthentication();
  for (let i = 0; i < 55; i += 1) {
    const guess = await noDelay.checkPassword(`pupil.guess.${i}@hill.example`, 'password1', { ip: SCHOOL_IP });
    expect(guess).toMatchObject({ ok: false, reason: 'invalid' });
  }
  // Over HTTP too, through the server's own counting.
  expect((await signIn(second, browser(SCHOOL_IP), 'someone.else@hill.example', 'guess')).status).toBe(401);
  expect((await signIn(first, browser(SCHOOL_IP), 'colleague@hill.example', PASSWORD)).status).toBe(303);
}, 120_000);

test('a browser with a device cookie signs in while its account is locked for everyone else; the person is warned once; user unlock lifts it', async () => {
  const email = 'head@hill.example';
  const account = await addStaff(first.services, email, [{ schoolId, accessLevel: 'basic' }]);
  const own = browser(SCHOOL_IP);
  expect((await signIn(first, own, email, PASSWORD)).status).toBe(303);
  const deviceCookie = own.setCookies.find((header) => header.startsWith('gatehouse.device='));
  expect(deviceCookie).toMatch(/httponly/i);
  expect(deviceCookie).toMatch(/samesite=strict/i);

  // Someone guesses from the school IP until that pair is paused, then from everywhere else.
  const attacker = undelayedAuthentication();
  for (let i = 0; i < THROTTLE.lockAfter; i += 1) await attacker.checkPassword(email, `guess ${i}`, { ip: SCHOOL_IP });
  const results = [];
  for (let i = THROTTLE.lockAfter; i < THROTTLE.blockAfter; i += 1)
    results.push(await attacker.checkPassword(email, `guess ${i}`, { ip: `198.51.100.${i}` }));
  expect(results.at(-1)).toEqual({ ok: false, reason: 'blocked' });

  // A new browser, even with the right password and from a fresh IP, is told what happened.
  const stranger = await signIn(second, browser('192.0.2.200'), email, PASSWORD);
  expect(stranger.status).toBe(423);
  expect(visibleText(stranger.html)).toContain(BLOCKED);
  // The person's own browser, on the school IP, still signs in (on either process).
  expect((await signIn(second, own, email, PASSWORD)).status).toBe(303);
  expect((await signIn(first, own, email, PASSWORD)).status).toBe(303);
  // A device cookie counts only for the account that signed in with it.
  const colleagues = browser('192.0.2.202');
  expect((await signIn(first, colleagues, 'colleague@hill.example', PASSWORD)).status).toBe(303);
  expect((await signIn(first, colleagues, email, PASSWORD)).status).toBe(423);

  const warning = await smtp.waitFor(email, /Someone is trying to sign in/);
  expect(warning.text).toContain(`more than ${THROTTLE.warnAfter} times in a row`);
  expect(warning.text).toMatch(/IT helpdesk/);
  expect(smtp.inbox.filter((mail) => mail.to.includes(email) && /Someone is trying/.test(mail.subject))).toHaveLength(1);

  const unlocked = await admin('user', 'unlock', '--email', email);
  expect(unlocked).toMatchObject({ id: account.id, status: 'active' });
  expect(unlocked.released).toBeGreaterThan(0);
  expect((await signIn(second, browser('192.0.2.201'), email, PASSWORD)).status).toBe(303);
  const events = (await first.services.audit.forEmail(email)).map((e) => `${e.event}:${e.outcome}:${e.reason ?? ''}`);
  expect(events).toEqual(
    expect.arrayContaining(['admin.user.unlock:success:', 'sign_in.password:failure:blocked', 'guessing.warning_sent:success:']),
  );
}, 180_000);

/** `n` wrong passwords, each from a new IP, no device cookie: the account's streak grows. */
async function guessFromEverywhere(email: string, n: number) {
  const attacker = undelayedAuthentication();
  const results = [];
  for (let i = 0; i < n; i += 1) results.push(await attacker.checkPassword(email, `guess ${i}`, { ip: `198.51.100.${i % 250}` }));
  return results;
}

test(`trusted browsers together get at most ${THROTTLE.ceilingAfter} consecutive guesses: past that even the owner's is refused until user unlock`, async () => {
  const email = 'ceiling@hill.example';
  const account = await addStaff(first.services, email, [{ schoolId, accessLevel: 'basic' }]);
  const own = browser(SCHOOL_IP);
  expect((await signIn(first, own, email, PASSWORD)).status).toBe(303);
  expect((await guessFromEverywhere(email, THROTTLE.blockAfter)).at(-1)).toEqual({ ok: false, reason: 'blocked' });
  // Browsers that once signed in (a thief's among them), each within its own limits.
  const attacker = undelayedAuthentication();
  const issuedAt = Math.floor(Date.now() / 1000);
  const results = [];
  for (let i = 0; i < THROTTLE.ceilingAfter - THROTTLE.blockAfter; i += 1) {
    const devices = [{ id: `trusted-browser-${i % 10}`, accountId: account.id, issuedAt }];
    results.push(await attacker.checkPassword(email, `guess ${i}`, { ip: SCHOOL_IP, devices }));
  }
  expect(results.slice(0, -1).every((result) => !result.ok && result.reason === 'invalid')).toBe(true);
  expect(results.at(-1)).toEqual({ ok: false, reason: 'blocked' });

  const refused = await signIn(second, own, email, PASSWORD);
  expect(refused.status).toBe(423);
  expect(visibleText(refused.html)).toContain(BLOCKED);
  await admin('user', 'unlock', '--email', email);
  expect((await signIn(first, own, email, PASSWORD)).status).toBe(303);
}, 180_000);

test('a device cookie issued before `user mfa-reset` (or a password reset, or a lock) no longer gives a budget of its own', async () => {
  const email = 'stale-cookie@hill.example';
  await addStaff(first.services, email, [{ schoolId, accessLevel: 'basic' }]);
  const own = browser(SCHOOL_IP);
  expect((await signIn(first, own, email, PASSWORD)).status).toBe(303);
  expect(own.cookies.has('gatehouse.device')).toBe(true);
  await admin('user', 'mfa-reset', '--email', email);
  expect((await guessFromEverywhere(email, THROTTLE.blockAfter)).at(-1)).toEqual({ ok: false, reason: 'blocked' });

  const refused = await signIn(second, own, email, PASSWORD);
  expect(refused.status).toBe(423);
  // Unlocked, the browser signs in again and its new cookie counts once more.
  await admin('user', 'unlock', '--email', email);
  expect((await signIn(first, own, email, PASSWORD)).status).toBe(303);
  expect((await guessFromEverywhere(email, THROTTLE.blockAfter)).at(-1)).toEqual({ ok: false, reason: 'blocked' });
  expect((await signIn(second, own, email, PASSWORD)).status).toBe(303);
}, 180_000);

test('an unknown address answers the same as an account, whatever look-alike spelling is used', async () => {
  await addStaff(first.services, 'kim.zoë@hill.example', [{ schoolId, accessLevel: 'basic' }]);
  const spellings = [
    (a: string) => a,
    (a: string) => a.replace(/k/g, '\u212A'), // Kelvin sign
    (a: string) => a.toUpperCase(),
    (a: string) => a.replace(/[a-z]/g, (c) => String.fromCodePoint(c.codePointAt(0)! + 0xfee0)), // fullwidth
    (a: string) => a.normalize('NFD'), // combining diaeresis
    (a: string) => a.replace('i', '\u0130'), // dotted capital I: another address, for both
    (a: string) => ` ${a.replace('h', 'H')} `,
  ];
  const statuses = async (address: string, ip: string, using = spellings) => {
    const noDelay = undelayedAuthentication();
    const answers = [];
    for (let i = 0; i < 12; i += 1) {
      const check = await noDelay.checkPassword(using[i % using.length]!(address), 'not the password', { ip });
      answers.push(refusalOf(check).status);
    }
    return answers;
  };
  const existing = await statuses('kim.zoë@hill.example', '192.0.2.60');
  const unknown = await statuses('kia.zoë@hill.example', '192.0.2.60');
  expect(existing).toEqual(unknown);
  // Ten of the twelve are one address under every spelling but İ: the 10th of those locks.
  expect(existing).toEqual([401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 429, 429]);

  // The finding itself: alternating i and İ. PostgreSQL's lower() may fold İ to i; nothing here uses it.
  const withDottedI = [spellings[0]!, spellings[5]!];
  expect(await statuses('kim.zoë@hill.example', '192.0.2.61', withDottedI)).toEqual(
    await statuses('kia.zoë@hill.example', '192.0.2.61', withDottedI),
  );
}, 120_000);

test('200 first-time emails from one school IP to 200 addresses are all sent', async () => {
  const addresses = Array.from({ length: 200 }, (_, i) => `new.starter.${i}@hill.example`);
  for (const email of addresses) await first.services.accounts.addUser({ email, memberships: [{ schoolId, accessLevel: 'basic' }] });
  const agent = browser(SCHOOL_IP);
  const form = await agent.get(`${first.url}/password/forgot`);
  const csrf = /name="_csrf" value="([^"]*)"/.exec(form.html)![1]!;
  for (const email of addresses) {
    expect((await agent.post(`${first.url}/password/forgot`, { _csrf: csrf, email })).status).toBe(200);
  }
  for (const email of addresses) await smtp.waitFor(email, /Set your Gatehouse password/, 30_000);
  // Per address, the cap still holds: the 4th in 15 minutes is not sent.
  const again = addresses[0]!;
  for (let i = 0; i < THROTTLE.resetEmailsPerAddress; i += 1)
    await agent.post(`${first.url}/password/forgot`, { _csrf: csrf, email: again });
  await first.services.passwordReset.drain();
  expect(smtp.inbox.filter((mail) => mail.to.includes(again) && /Set your Gatehouse password/.test(mail.subject))).toHaveLength(
    THROTTLE.resetEmailsPerAddress,
  );
}, 180_000);

/** The unit tests use MemoryThrottleStore: it must behave as the PostgreSQL repository does. */
/** Moves a key's window (and lock) `seconds` into the past: time passing, for one store. */
type Age = (store: ThrottleStore, key: string, seconds: number) => Promise<void>;
const agePostgres: Age = async (_store, key, seconds) => {
  await first.database.dataSource.query(
    `UPDATE auth_throttle SET window_started_at = window_started_at - make_interval(secs => $2),
       locked_until = locked_until - make_interval(secs => $2) WHERE key = $1`,
    [key, seconds],
  );
};
const ageMemory: Age = async (store, _key, seconds) => (store as MemoryThrottleStore).advance(seconds * 1000);

describe.each([
  ['PostgreSQL', () => first.services.repositories.throttle as ThrottleStore, agePostgres],
  ['memory', () => new MemoryThrottleStore(Date.now()) as ThrottleStore, ageMemory],
])('the %s throttle store', (_name, storeOf, age) => {
  test('a lock ends when it says, a window that has passed starts again, and a running lock keeps counting', async () => {
    const store = storeOf();
    const ended = `contract:${Math.random()}`;
    for (let i = 0; i < 3; i += 1) await store.countWindow(ended, 900, 3, 60);
    await age(store, ended, 61);
    expect(await store.countWindow(ended, 900, 3, 60)).toEqual({ count: 1, lockedUntil: null });

    const passed = `contract:${Math.random()}`;
    await store.countWindow(passed, 900, 3, 60);
    await store.countWindow(passed, 900, 3, 60);
    await age(store, passed, 901);
    expect(await store.countWindow(passed, 900, 3, 60)).toEqual({ count: 1, lockedUntil: null });

    const running = `contract:${Math.random()}`;
    for (let i = 0; i < 3; i += 1) await store.countWindow(running, 900, 3, 3600);
    await age(store, running, 901);
    expect((await store.countWindow(running, 900, 3, 3600)).count).toBe(4);
  });

  test('counts windows, locks at the limit, and clears', async () => {
    const store = storeOf();
    const key = `contract:${Math.random()}`;
    expect((await store.countWindow(key, 900, 3, 60)).count).toBe(1);
    expect(await store.countWindow(key, 900, 3, 60)).toEqual({ count: 2, lockedUntil: null });
    const locked = await store.countWindow(key, 900, 3, 60);
    expect(locked.count).toBe(3);
    expect(Math.abs(locked.lockedUntil!.getTime() - Date.now() - 60_000)).toBeLessThan(5_000);
    expect((await store.readWindows([key, 'absent'])).get(key)).toEqual(locked);
    await store.clearWindow(key);
    expect((await store.readWindows([key])).size).toBe(0);
  });

  test('counts streaks, locks only on request, resets only unlocked ones, warns once, releases by prefix', async () => {
    const store = storeOf();
    const base = `password:account:${Math.random()}`;
    const [a, device, other] = [base, `${base}:device:d1`, `${base}x`];
    for (let i = 0; i < 3; i += 1) await store.countStreak(a);
    await store.countStreak(device);
    await store.countStreak(other);
    expect(await store.claimWarning(a, 3)).toBe(false);
    expect(await store.claimWarning(a, 2)).toBe(true);
    expect(await store.claimWarning(a, 2)).toBe(false);
    await store.lockStreaks([a, device], 2);
    const streaks = await store.readStreaks([a, device]);
    expect(streaks.get(a)!.lockedAt).toBeInstanceOf(Date);
    expect(streaks.get(device)!.lockedAt).toBeNull();
    await store.resetStreak(a);
    await store.resetStreak(device);
    expect([...(await store.readStreaks([a, device])).keys()]).toEqual([a]);
    await store.countStreak(device);
    expect(await store.release([base])).toBe(2);
    expect([...(await store.readStreaks([a, device, other])).keys()]).toEqual([other]);
  });
});
