import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import * as client from 'openid-client';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse } from './support/gatehouse.ts';
import { Agent, authorizationRequest, REDIRECT_URI, relyingParty, start } from './support/scenario.ts';

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
  expect(await adminJson('user', 'mfa-reset', '--email', 'head@brook.example')).toEqual({
    id: user.id,
    removed: 0,
    passkeys_removed: 0,
    backup_codes_voided: 0,
  });
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

  for (const method of ['none', 'client_secret_jwt', 'private_key_jwt']) {
    const refused = await admin(
      'client',
      'add',
      '--name',
      'Bad',
      '--school',
      '00000000-0000-4000-8000-000000000000',
      '--redirect-uri',
      'https://mis.example/cb',
      '--token-endpoint-auth-method',
      method,
    );
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('--token-endpoint-auth-method must be client_secret_basic or client_secret_post');
  }

  const pkce = await admin(
    'client',
    'add',
    '--name',
    'Bad',
    '--school',
    '00000000-0000-4000-8000-000000000000',
    '--redirect-uri',
    'https://mis.example/cb',
    '--pkce',
    'sometimes',
  );
  expect(pkce.code).not.toBe(0);
  expect(pkce.stderr).toContain('--pkce must be required (the default) or optional');

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

test('role commands: grant helpdesk or a school, refuse the wrong shape, list, revoke once', async () => {
  const school = await adminJson('school', 'add', '--name', 'Moor School', '--postcode', 'MO1 1OR');
  const desk = await adminJson('user', 'add', '--email', 'desk@moor.example', '--school', String(school.id));
  const office = await adminJson('user', 'add', '--email', 'office@moor.example', '--school', String(school.id));

  const helpdesk = await adminJson('role', 'grant', '--email', 'Desk@Moor.example', '--role', 'helpdesk');
  expect(helpdesk).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), created: true });
  expect(await adminJson('role', 'grant', '--email', 'desk@moor.example', '--role', 'helpdesk')).toEqual({ ...helpdesk, created: false });
  const schoolAdmin = await adminJson(
    'role',
    'grant',
    '--email',
    'office@moor.example',
    '--role',
    'school-admin',
    '--school',
    String(school.id),
  );
  expect(schoolAdmin.created).toBe(true);

  const noSchool = await admin('role', 'grant', '--email', 'office@moor.example', '--role', 'school-admin', '--json');
  expect(noSchool.code).not.toBe(0);
  expect(noSchool.stdout).toBe('');
  expect(JSON.parse(noSchool.stderr).error).toContain('needs the school');
  const helpdeskAtSchool = await admin(
    'role',
    'grant',
    '--email',
    'office@moor.example',
    '--role',
    'helpdesk',
    '--school',
    String(school.id),
  );
  expect(helpdeskAtSchool.code).not.toBe(0);
  expect(helpdeskAtSchool.stderr).toContain('covers every school');
  const unknownRole = await admin('role', 'grant', '--email', 'office@moor.example', '--role', 'root');
  expect(unknownRole.code).not.toBe(0);
  expect(unknownRole.stderr).toContain('--role must be helpdesk or school-admin');
  const unknownPerson = await admin('role', 'grant', '--email', 'nobody@moor.example', '--role', 'helpdesk');
  expect(unknownPerson.stderr).toContain('No account has the email address');

  const roles = (await adminJson('role', 'list')).roles as Array<Record<string, unknown>>;
  expect(roles).toEqual(
    expect.arrayContaining([
      { id: helpdesk.id, role: 'helpdesk', school_id: null, account_id: desk.id, email: 'desk@moor.example' },
      { id: schoolAdmin.id, role: 'school-admin', school_id: school.id, account_id: office.id, email: 'office@moor.example' },
    ]),
  );
  expect(roles.filter((role) => role.account_id === office.id)).toHaveLength(1);

  const revokeArgs = ['role', 'revoke', '--email', 'office@moor.example', '--role', 'school-admin', '--school', String(school.id)];
  expect(await adminJson(...revokeArgs)).toEqual({ id: schoolAdmin.id });
  const twice = await admin(...revokeArgs);
  expect(twice.code).not.toBe(0);
  expect(twice.stderr).toContain('nothing to revoke');
  expect(((await adminJson('role', 'list')).roles as Array<{ id: string }>).map((role) => role.id)).not.toContain(schoolAdmin.id);
}, 120_000);

test('a helpdesk API client gets a gatehouse:admin token; other machine and school-system clients are refused that scope', async () => {
  const school = await adminJson('school', 'add', '--name', 'Dale School', '--postcode', 'DA1 1LE');
  const api = await adminJson('client', 'add', '--name', 'Helpdesk tool', '--grant-type', 'client_credentials', '--api-role', 'helpdesk');
  const machine = await adminJson('client', 'add', '--name', 'Sync', '--school', String(school.id), '--grant-type', 'client_credentials');
  const mis = await adminJson('client', 'add', '--name', 'Dale MIS', '--school', String(school.id), '--redirect-uri', REDIRECT_URI);
  const postMachine = await adminJson(
    'client',
    'add',
    '--name',
    'Sync by post',
    '--school',
    String(school.id),
    '--grant-type',
    'client_credentials',
    '--token-endpoint-auth-method',
    'client_secret_post',
  );
  const roles = (await adminJson('role', 'list')).roles as Array<Record<string, unknown>>;
  expect(roles).toContainEqual(expect.objectContaining({ role: 'helpdesk', school_id: null, client_id: api.client_id }));

  const schoolAdminWithout = await admin(
    'client',
    'add',
    '--name',
    'X',
    '--grant-type',
    'client_credentials',
    '--api-role',
    'school-admin',
  );
  expect(schoolAdminWithout.code).not.toBe(0);
  expect(schoolAdminWithout.stderr).toContain('--school is required');

  const gatehouse = await startTestGatehouse(storage);
  try {
    const credentials = (c: Record<string, unknown>) => ({ clientId: String(c.client_id), clientSecret: String(c.client_secret) });
    const apiRp = await relyingParty(gatehouse.issuer, credentials(api));
    const token = await client.clientCredentialsGrant(apiRp, { scope: 'gatehouse:admin' });
    expect(token).toMatchObject({ access_token: expect.any(String), scope: 'gatehouse:admin' });
    expect(await client.tokenIntrospection(apiRp, token.access_token)).toMatchObject({
      active: true,
      client_id: api.client_id,
      scope: 'gatehouse:admin',
    });

    // The method chosen at `client add` is the client's registered one (RFC 7591 token_endpoint_auth_method).
    const posted = credentials(postMachine);
    const postRp = new client.Configuration(
      (await relyingParty(gatehouse.issuer, posted)).serverMetadata(),
      posted.clientId,
      posted.clientSecret,
      client.ClientSecretPost(posted.clientSecret),
    );
    client.allowInsecureRequests(postRp);
    expect(await client.clientCredentialsGrant(postRp, { scope: 'school' })).toMatchObject({ access_token: expect.any(String) });
    expect(await gatehouse.services.repositories.clients.find(posted.clientId)).toMatchObject({
      tokenEndpointAuthMethod: 'client_secret_post',
    });

    const machineRp = await relyingParty(gatehouse.issuer, credentials(machine));
    await expect(client.clientCredentialsGrant(machineRp, { scope: 'gatehouse:admin' })).rejects.toMatchObject({ error: 'invalid_scope' });

    const misRp = await relyingParty(gatehouse.issuer, credentials(mis));
    const agent = new Agent(REDIRECT_URI);
    const asked = await start(agent, await authorizationRequest(misRp, { scope: 'openid gatehouse:admin' }));
    expect(new URL(asked.location!).searchParams.get('error')).toBe('invalid_scope');
  } finally {
    await gatehouse.close();
  }
}, 120_000);
