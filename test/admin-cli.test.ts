import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { createTestStorage, type TestStorage } from './support/database.ts';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '..');
const NODE = path.join(ROOT, 'node_modules/.bin/node');

let storage: TestStorage;

beforeAll(async () => {
  storage = await createTestStorage();
});

afterAll(async () => {
  await storage?.drop();
});

async function admin(...args: string[]) {
  const env = { ...process.env, DATA_DIR: storage.dataDir, DATABASE_URL: storage.databaseUrl ?? '' };
  try {
    const { stdout, stderr } = await run(NODE, ['src/admin/cli.ts', ...args], { cwd: ROOT, env });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

async function adminJson(...args: string[]) {
  const result = await admin(...args, '--json');
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  expect(result.stdout.trim().split('\n')).toHaveLength(1);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

test('school, client and user commands print exactly one JSON object each', async () => {
  const school = await adminJson('school', 'add', '--name', 'Brook Academy', '--postcode', 'BR1 3AC');
  expect(school.id).toMatch(/^[0-9a-f-]{36}$/);
  const listed = await adminJson('school', 'list');
  expect(listed.schools).toEqual([{ id: school.id, name: 'Brook Academy', postcode: 'BR1 3AC' }]);

  const client = await adminJson(
    'client',
    'add',
    '--name',
    'Brook MIS',
    '--school',
    String(school.id),
    '--redirect-uri',
    'https://mis.brook.example/callback',
    '--redirect-uri',
    'http://localhost:4000/callback',
    '--initiate-login-uri',
    'https://mis.brook.example/login',
  );
  expect(client.client_id).toMatch(/^gh_/);
  expect(String(client.client_secret).length).toBeGreaterThanOrEqual(43);

  const user = await adminJson('user', 'add', '--email', 'Head@Brook.example', '--name', 'Pat Head', '--school', `${school.id}:higher`);
  const again = await adminJson('user', 'add', '--email', 'head@brook.example', '--school', String(school.id));
  expect(again.id).toBe(user.id);
  expect(await adminJson('user', 'mfa-reset', '--email', 'head@brook.example')).toEqual({ id: user.id, removed: 0 });
  expect(await adminJson('user', 'lock', '--email', 'head@brook.example')).toEqual({ id: user.id, status: 'locked' });
  expect(await adminJson('user', 'unlock', '--email', 'head@brook.example')).toEqual({ id: user.id, status: 'active', released: 0 });
}, 120_000);

test('bad input fails with words on stderr, a non-zero exit and nothing written', async () => {
  const unknownSchool = await admin(
    'user',
    'add',
    '--email',
    'x@brook.example',
    '--school',
    '00000000-0000-4000-8000-000000000000',
    '--json',
  );
  expect(unknownSchool.code).not.toBe(0);
  expect(unknownSchool.stdout).toBe('');
  expect(JSON.parse(unknownSchool.stderr).error).toContain('No school has the id');

  const badUri = await admin(
    'client',
    'add',
    '--name',
    'Bad',
    '--school',
    '00000000-0000-4000-8000-000000000000',
    '--redirect-uri',
    'http://evil.example/cb',
  );
  expect(badUri.code).not.toBe(0);
  expect(badUri.stderr).toContain('must use https');

  const wildcard = await admin(
    'client',
    'add',
    '--name',
    'Bad',
    '--school',
    '00000000-0000-4000-8000-000000000000',
    '--redirect-uri',
    'https://*.evil.example/cb',
  );
  expect(wildcard.stderr).toContain('wildcard');

  const missing = await admin('school', 'add', '--name', 'No Postcode');
  expect(missing.code).not.toBe(0);
  expect(missing.stderr).toContain('--postcode is required');

  const unknown = await admin('frobnicate');
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain('Unknown command');

  const lockNobody = await admin('user', 'lock', '--email', 'nobody@brook.example');
  expect(lockNobody.code).not.toBe(0);
  expect(lockNobody.stderr).toContain('No account has the email address');

  // The failed `user add` above must not have left a half-made account behind.
  const lockX = await admin('user', 'lock', '--email', 'x@brook.example');
  expect(lockX.stderr).toContain('No account has the email address');
}, 120_000);

test('integrator and key commands: initial access token, machine client, link, key rotation', async () => {
  const school = await adminJson('school', 'add', '--name', 'Fen College', '--postcode', 'FE1 1CC');
  const iat = await adminJson('token', 'initial-access', '--expires-in-days', '2');
  expect(String(iat.token).length).toBeGreaterThanOrEqual(40);
  expect(iat.expires_in).toBe(2 * 86_400);
  expect(iat.registration_endpoint).toMatch(/\/reg$/);

  const machine = await adminJson('client', 'add', '--name', 'Sync', '--school', String(school.id), '--grant-type', 'client_credentials');
  expect(machine.client_id).toMatch(/^gh_/);
  expect(await adminJson('client', 'link', '--client', String(machine.client_id), '--school', String(school.id))).toEqual({
    client_id: machine.client_id,
    schools: [school.id],
  });
  const unknownClient = await admin('client', 'link', '--client', 'nope', '--school', String(school.id));
  expect(unknownClient.stderr).toContain('No client has the id nope');

  const before = (await adminJson('keys', 'list')).keys as Array<{ kid: string; status: string }>;
  expect(before).toHaveLength(1);
  const published = (await adminJson('keys', 'rotate')).keys as Array<{ kid: string; status: string }>;
  expect(published.map((key) => key.status)).toEqual(['signing', 'next']);
  const activated = (await adminJson('keys', 'activate')).keys as Array<{ kid: string; status: string }>;
  expect(activated.map((key) => [key.kid, key.status])).toEqual([
    [published[1]!.kid, 'signing'],
    [before[0]!.kid, 'retired'],
  ]);
  const nothingNext = await admin('keys', 'activate');
  expect(nothingNext.stderr).toContain('There is no next key to activate');
}, 120_000);
