import { codeSubject, passwordSubject, THROTTLE, ThrottleService } from '../src/auth/throttle.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { freePort, startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { spawnGatehouse } from './support/process.ts';
import { visibleText } from './support/agent.ts';
import { addClient, addSchool, addStaff, Agent, authorizationRequest, PASSWORD, REDIRECT_URI, relyingParty, start, submitLogin } from './support/scenario.ts';

/** Two provider processes on one database: the count must be shared. */
let storage: TestStorage;
let first: TestGatehouse;
let second: Awaited<ReturnType<typeof spawnGatehouse>>;
let credentials: { clientId: string; clientSecret: string };

beforeAll(async () => {
  storage = await createTestStorage();
  first = await startTestGatehouse(storage);
  // A second OS process on the same database (through the first's socket when embedded).
  second = await spawnGatehouse(storage, await freePort(), { ISSUER: first.issuer });
  const schoolId = (await addSchool(first.services, 'Hill Primary School')).id;
  credentials = await addClient(first.services, 'Hill MIS', [schoolId]);
  await addStaff(first.services, 'target@hill.example', [{ schoolId, accessLevel: 'basic' }]);
});

afterAll(async () => {
  await second?.stop();
  await first?.close();
  await storage?.drop();
});

async function attempt(instance: { url: string }, email: string, password: string) {
  const rp = await relyingParty(first.issuer, credentials);
  const agent = new Agent(REDIRECT_URI);
  const login = await start(agent, await authorizationRequest(rp));
  // Post the form to the chosen instance: a flow may start on one process and finish on another.
  const onInstance = { ...login, url: login.url.replace(first.issuer, instance.url) };
  return submitLogin(agent, onInstance, email, password);
}

test('failures counted on one process lock the account on the other; the right password does not bypass it', async () => {
  const target = (await first.services.accounts.findByEmail('target@hill.example'))!;
  await first.database.dataSource.query(
    `INSERT INTO auth_throttle (key, count, window_started_at) VALUES ($1, $2, now())`,
    [passwordSubject(target, ''), THROTTLE.lockAfter - 2],
  );
  const wrongOnFirst = await attempt(first, 'Target@Hill.example', 'a wrong password, again');
  expect(wrongOnFirst.status).toBe(401);
  const lockingOnSecond = await attempt(second, 'target@hill.example', 'yet another wrong password');
  expect(lockingOnSecond.status).toBe(429);
  expect(visibleText(lockingOnSecond.html)).toContain('Too many wrong attempts.');

  const rightButLocked = await attempt(first, 'target@hill.example', PASSWORD);
  expect(rightButLocked.status).toBe(429);
  // Another spelling of the same address is the same account, so the same lock.
  const otherSpelling = await attempt(first, 'TARGET@HILL.EXAMPLE', PASSWORD);
  expect(otherSpelling.status).toBe(429);
  expect(visibleText(rightButLocked.html)).toContain('Signing in is paused until');

  await first.services.accounts.setStatus('target@hill.example', 'active'); // user unlock
  const afterUnlock = await attempt(second, 'target@hill.example', PASSWORD);
  expect(afterUnlock.status).toBe(303);
}, 120_000);

test('an address nobody has is locked the same way, so a lock reveals nothing', async () => {
  await first.database.dataSource.query(
    `INSERT INTO auth_throttle (key, count, window_started_at) VALUES ('login:ghost@hill.example', $1, now())`,
    [THROTTLE.lockAfter - 1],
  );
  const locked = await attempt(second, 'ghost@hill.example', 'whatever it is');
  expect(locked.status).toBe(429);
}, 60_000);

test('attempts after the third failure are slowed, doubling up to the cap', async () => {
  const slept: number[] = [];
  const throttle = new ThrottleService(first.services.repositories.throttle, async (ms) => {
    slept.push(ms);
  });
  for (let i = 0; i < 7; i += 1) {
    expect((await throttle.attempt('login:slow@hill.example', '198.51.100.7')).allowed).toBe(true);
  }
  expect(slept).toEqual([1000, 2000, 4000, 8000]);
  await throttle.succeeded('login:slow@hill.example', '198.51.100.7');
  expect(await throttle.attempt('login:slow@hill.example', '198.51.100.7')).toEqual({ allowed: true, delayMs: 0 });
});

test('codes sent in parallel are counted before they are checked: at most ten are ever tried', async () => {
  const account = (await first.services.accounts.findByEmail('target@hill.example'))!;
  const noDelay = new ThrottleService(first.services.repositories.throttle, async () => {});
  const results = await Promise.all(
    Array.from({ length: 40 }, (_, i) => noDelay.attempt(codeSubject(account.id), `192.0.2.${i % 4}`)),
  );
  expect(results.filter((gate) => gate.allowed)).toHaveLength(THROTTLE.lockAfter);
  await first.services.repositories.throttle.clear(codeSubject(account.id));
});

test('a right password does not reset the count of wrong codes', async () => {
  const account = (await first.services.accounts.findByEmail('target@hill.example'))!;
  await first.database.dataSource.query(
    `INSERT INTO auth_throttle (key, count, window_started_at) VALUES ($1, $2, now())`,
    [codeSubject(account.id), THROTTLE.lockAfter - 1],
  );
  const where = { ip: '192.0.2.77' };
  expect(await first.services.authentication.checkPassword('target@hill.example', PASSWORD, where)).toMatchObject({ ok: true });
  const tenth = await first.services.authentication.checkCode(account, '000000', where);
  expect(tenth).toMatchObject({ ok: false, reason: 'throttled' });
}, 60_000);

test('password emails are limited per address', async () => {
  const throttle = first.services.throttle;
  const answers = [];
  for (let i = 0; i < THROTTLE.resetEmailsPerAddress + 2; i += 1) answers.push(await throttle.mayEmail(null, 'busy@hill.example', '203.0.113.9'));
  expect(answers).toEqual([true, true, true, false, false]);
});
