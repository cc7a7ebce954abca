import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { formField } from './support/agent.ts';
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

let storage: TestStorage;
let gatehouse: TestGatehouse;

beforeAll(async () => {
  storage = await createTestStorage();
  gatehouse = await startTestGatehouse(storage);
});

afterAll(async () => {
  await gatehouse?.close();
  await storage?.drop();
});

test('sign-ins (and why they failed), resets and admin actions are in the audit trail', async () => {
  const { services } = gatehouse;
  const school = await addSchool(services, 'Hill Primary School');
  const credentials = await addClient(services, 'Hill MIS', [school.id]);
  await addStaff(services, 'audited@hill.example', [{ schoolId: school.id, accessLevel: 'basic' }]);

  const rp = await relyingParty(gatehouse.issuer, credentials);
  const agent = new Agent(REDIRECT_URI);
  const login = await start(agent, await authorizationRequest(rp));
  await submitLogin(agent, login, 'audited@hill.example', 'not the right password');
  await agent.follow(await submitLogin(agent, login, 'audited@hill.example', PASSWORD));
  const forgot = await agent.get(`${gatehouse.issuer}/password/forgot`);
  await agent.post(`${gatehouse.issuer}/password/forgot`, { _csrf: formField(forgot.html, '_csrf'), email: 'audited@hill.example' });

  // The admin action through the CLI (against the same database; in embedded mode via the socket).
  const root = path.resolve(import.meta.dirname, '..');
  const env = { ...process.env, DATA_DIR: storage.dataDir, DATABASE_URL: storage.databaseUrl ?? '' };
  const node = path.join(root, 'node_modules/.bin/node');
  await promisify(execFile)(node, ['src/admin/cli.ts', 'user', 'lock', '--email', 'audited@hill.example', '--json'], { cwd: root, env });

  let events: Array<Record<string, unknown>> = [];
  for (let i = 0; i < 20; i += 1) {
    const { stdout } = await promisify(execFile)(node, ['src/admin/cli.ts', 'audit', '--email', 'AUDITED@hill.example', '--json'], {
      cwd: root,
      env,
    });
    events = JSON.parse(stdout).events;
    if (events.some((e) => e.event === 'password_reset.request')) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const summary = events.map((e) => `${e.event}:${e.outcome}${e.reason ? `:${e.reason}` : ''}`);
  expect(summary).toEqual(
    expect.arrayContaining([
      'sign_in.password:failure:invalid',
      'sign_in.password:success',
      'sign_in.authorized:success',
      'password_reset.request:success',
      'admin.user.lock:success',
    ]),
  );
  const authorized = events.find((e) => e.event === 'sign_in.authorized')!;
  expect(authorized).toMatchObject({ clientId: credentials.clientId, schoolId: school.id, ip: expect.any(String) });
  expect(JSON.stringify(events)).not.toContain(PASSWORD);
}, 120_000);

test('`audit --email` finds failed sign-ins typed in a look-alike spelling of an address nobody has', async () => {
  const { services } = gatehouse;
  const school = await addSchool(services, 'Brook School');
  const rp = await relyingParty(gatehouse.issuer, await addClient(services, 'Brook MIS', [school.id]));
  const agent = new Agent(REDIRECT_URI);
  const login = await start(agent, await authorizationRequest(rp));
  // Fullwidth letters (NFKC makes them ASCII) and a decomposed ë: PostgreSQL's lower() keeps both apart.
  const fullwidth = 'ｍｉｓｔｙｐｅｄ@brook.example';
  const decomposed = 'zoë.nobody@brook.example'.normalize('NFD');
  await submitLogin(agent, login, fullwidth, 'not the right password');
  await submitLogin(agent, login, decomposed, 'not the right password');

  const root = path.resolve(import.meta.dirname, '..');
  const env = { ...process.env, DATA_DIR: storage.dataDir, DATABASE_URL: storage.databaseUrl ?? '' };
  const node = path.join(root, 'node_modules/.bin/node');
  const audit = async (email: string) => {
    const { stdout } = await promisify(execFile)(node, ['src/admin/cli.ts', 'audit', '--email', email, '--json'], { cwd: root, env });
    return (JSON.parse(stdout).events as Array<Record<string, unknown>>).map((e) => `${e.event}:${e.outcome}:${e.reason}:${e.email}`);
  };
  expect(await audit('MISTYPED@brook.example')).toEqual([`sign_in.password:failure:invalid:${fullwidth}`]);
  expect(await audit('zoë.nobody@brook.example'.normalize('NFC'))).toEqual([`sign_in.password:failure:invalid:${decomposed}`]);
}, 120_000);
