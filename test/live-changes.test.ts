import { createTestStorage, type TestStorage } from './support/database.ts';
import { freePort, startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { addNextSigningKey } from '../src/oidc/keys.ts';
import { publishedKids } from './support/oidc.ts';
import { spawnGatehouse } from './support/process.ts';
import {
  addClient,
  addSchool,
  addStaff,
  Agent,
  authorizationRequest,
  exchange,
  PASSWORD,
  REDIRECT_URI,
  relyingParty,
  start,
  submitLogin,
} from './support/scenario.ts';
import { adminCliJson, within } from './support/spawned.ts';

/**
 * Every process caches clients, their schools and the signing keys; a change made anywhere (the
 * CLI, the console, another process) must reach every running process within seconds, with no
 * restart. Two real provider processes (A, B) beside the test's own.
 */
type Spawned = Awaited<ReturnType<typeof spawnGatehouse>>;

let storage: TestStorage;
let here: TestGatehouse;
let a: Spawned;
let b: Spawned;
let schoolId: string;

beforeAll(async () => {
  storage = await createTestStorage();
  here = await startTestGatehouse(storage);
  schoolId = (await addSchool(here.services, 'Hill Primary School')).id;
  // A refresh slower than the test: on PostgreSQL only the notifications can make these pass in time.
  const spawn = async () => {
    const port = await freePort();
    return spawnGatehouse(storage, port, { ISSUER: `http://localhost:${port}`, CACHE_REFRESH_SECONDS: '3600' });
  };
  [a, b] = await Promise.all([spawn(), spawn()]);
}, 60_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await here?.close();
  await storage?.drop();
});

const cli = (...args: string[]) => adminCliJson(storage, ...args);

async function machineToken(url: string, clientId: string, secret: string): Promise<number> {
  const response = await fetch(`${url}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  return response.status;
}

test('a client added by the CLI works on every running process at once', async () => {
  const added = (await cli('client', 'add', '--name', 'Hill Sync', '--school', schoolId, '--grant-type', 'client_credentials')) as {
    client_id: string;
    client_secret: string;
  };
  expect(await machineToken(a.url, added.client_id, added.client_secret)).toBe(200);
  expect(await machineToken(b.url, added.client_id, added.client_secret)).toBe(200);
});

test('a new secret shuts the old one out of every process within seconds, though each had the client cached', async () => {
  const machine = await here.services.clients.add({ name: 'Hill Backup', schoolIds: [schoolId], redirectUris: [], machine: true });
  for (const process of [here, a, b]) expect(await machineToken(process.url, machine.clientId, machine.clientSecret)).toBe(200);

  const { clientSecret } = await here.services.clients.newSecret(machine.clientId);
  // The process that made the change never served the old secret again, not even once.
  expect(await machineToken(here.url, machine.clientId, machine.clientSecret)).toBe(401);
  for (const process of [a, b]) {
    await within(
      3,
      () => machineToken(process.url, machine.clientId, machine.clientSecret),
      (status) => status === 401,
    );
    expect(await machineToken(process.url, machine.clientId, clientSecret)).toBe(200);
  }
});

test('a key rotation by the CLI is published, then signs, on every process without a restart', async () => {
  const [signing] = await publishedKids(a.url);
  const rotated = (await cli('keys', 'rotate')) as { keys: Array<{ kid: string; status: string }> };
  const next = rotated.keys.find((key) => key.status === 'next')!.kid;
  for (const process of [a, b]) {
    expect(
      await within(
        3,
        () => publishedKids(process.url),
        (kids) => kids.includes(next),
      ),
    ).toEqual([signing, next]);
  }

  await cli('keys', 'activate');
  for (const process of [a, b])
    await within(
      3,
      () => publishedKids(process.url),
      (kids) => kids[0] === next,
    );

  // An ID token from B is signed with the new key, and a relying party validates it.
  const client = await addClient(here.services, 'Hill MIS', [schoolId]);
  await addStaff(here.services, 'teacher@hill.example', [{ schoolId, accessLevel: 'basic' }]);
  const rp = await relyingParty(b.url, client);
  const agent = new Agent(REDIRECT_URI);
  const authorization = await authorizationRequest(rp);
  const callback = await agent.follow(await submitLogin(agent, await start(agent, authorization), 'teacher@hill.example', PASSWORD));
  const tokens = await exchange(rp, callback, authorization);
  const header = JSON.parse(Buffer.from(tokens.id_token!.split('.')[0]!, 'base64url').toString()) as { kid: string };
  expect(header.kid).toBe(next);
  expect(tokens.claims()?.email).toBe('teacher@hill.example');
});

test('a school linked to a client is named on the sign-in page of every process at once', async () => {
  const oak = await addSchool(here.services, 'Oak Academy');
  const client = await addClient(here.services, 'Oak MIS', [oak.id]);
  const rp = await relyingParty(b.url, client);
  const pageAt = async () => (await start(new Agent(REDIRECT_URI), await authorizationRequest(rp))).html;
  expect(await pageAt()).toContain('Oak Academy');
  await here.services.clients.link(client.clientId, [schoolId]);
  // Two schools: the page no longer names one.
  await within(3, pageAt, (html) => !html.includes('Oak Academy'));
});

/** LISTEN/NOTIFY is PostgreSQL's; the embedded database refreshes every 2 seconds instead. */
const onPostgres = process.env.DATABASE_URL ? test : test.skip;

onPostgres('after the notifications are cut off, the next connection catches up on what was missed', async () => {
  const [signing] = await publishedKids(a.url);
  await here.database.dataSource.query(
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'gatehouse-changes' AND pid <> pg_backend_pid()`,
  );
  const rotated = (await cli('keys', 'rotate')) as { keys: Array<{ kid: string; status: string }> };
  const next = rotated.keys.find((key) => key.status === 'next')!.kid;
  for (const process of [a, b])
    expect(
      await within(
        10,
        () => publishedKids(process.url),
        (kids) => kids.includes(next),
      ),
    ).toContain(signing);
  expect(a.output()).toMatch(/lost the change notifications; reconnecting/);
});

test('a change nobody announced is still picked up by the periodic refresh', async () => {
  const port = await freePort();
  const refreshing = await spawnGatehouse(storage, port, { ISSUER: `http://localhost:${port}`, CACHE_REFRESH_SECONDS: '1' });
  try {
    // Written straight to the database, as a restore or a hand edit would: no notification.
    const keys = await addNextSigningKey(here.services.repositories.secrets, here.services.box);
    const next = keys.find((key) => key.status === 'next')!.kid;
    await within(
      4,
      () => publishedKids(refreshing.url),
      (kids) => kids.includes(next),
    );
    if (process.env.DATABASE_URL) expect(await publishedKids(a.url)).not.toContain(next);
  } finally {
    await refreshing.stop();
  }
});
