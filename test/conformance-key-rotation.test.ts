import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';
import pino from 'pino';
import { loadConfig } from '../src/config/index.ts';
import { openDatabase, type Database } from '../src/db/database.ts';
import { createServices, type Services } from '../src/services.ts';
import { visibleText } from './support/agent.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { freePort } from './support/gatehouse.ts';
import { NODE, ROOT, spawnGatehouse } from './support/process.ts';
import {
  addClient,
  addSchool,
  addStaff,
  Agent,
  authorizationRequest,
  PASSWORD,
  REDIRECT_URI,
  start,
  submitLogin,
} from './support/scenario.ts';

/**
 * OpenID Certification, Config OP and `oidcc-server-rotate-keys` (README "Signing keys"): a relying
 * party that has already validated ID tokens keeps validating them across `keys rotate` then
 * `keys activate`, run from the CLI (another process) against a running Gatehouse (its own process),
 * with no restart. The relying party is openid-client with signature checks on (by default it
 * trusts TLS for ID tokens from the token endpoint and checks no signature at all).
 */
let storage: TestStorage;
let database: Database;
let services: Services;
let gatehouse: Awaited<ReturnType<typeof spawnGatehouse>>;
let credentials: { clientId: string; clientSecret: string };
const email = 'rotation@hill.example';

beforeAll(async () => {
  storage = await createTestStorage();
  database = await openDatabase({ databaseUrl: storage.databaseUrl, dataDir: storage.dataDir });
  await database.migrate();
  const config = loadConfig({ DATA_DIR: storage.dataDir, ...(storage.databaseUrl ? { DATABASE_URL: storage.databaseUrl } : {}) });
  // Only to prepare the data: no server here, so the only provider is the spawned one.
  services = await createServices(database, config, pino({ level: 'silent' }));
  const school = await addSchool(services, 'Hill Primary School');
  credentials = await addClient(services, 'Hill MIS', [school.id], { postLogoutRedirectUris: ['http://localhost:65010/signed-out'] });
  await addStaff(services, email, [{ schoolId: school.id, accessLevel: 'basic' }]);
  // A periodic refresh slower than the test: only the change announced by the CLI can reach the process in time.
  gatehouse = await spawnGatehouse(storage, await freePort(), { CACHE_REFRESH_SECONDS: '3600' });
}, 60_000);

afterAll(async () => {
  expect(await gatehouse?.stop()).toBe(0);
  services?.mailer.close();
  await database?.close();
  await storage?.drop();
});

const cli = async (...args: string[]) => {
  const env = { ...process.env, DATA_DIR: storage.dataDir, DATABASE_URL: storage.databaseUrl ?? '', LOG_LEVEL: 'silent' };
  const { stdout } = await promisify(execFile)(NODE, ['src/admin/cli.ts', ...args, '--json'], { cwd: ROOT, env });
  return JSON.parse(stdout) as { keys: Array<{ kid: string; status: string }> };
};

const publishedKids = async () =>
  ((await (await fetch(`${gatehouse.url}/jwks`)).json()) as { keys: Array<{ kid: string }> }).keys.map((key) => key.kid);

async function within<T>(seconds: number, read: () => Promise<T>, check: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`still ${JSON.stringify(value)} after ${seconds} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** One browser's sign-in (single sign-on after the first), its code exchanged: the ID token, signature checked. */
async function idTokenFor(rp: client.Configuration, agent: Agent) {
  const authorization = await authorizationRequest(rp, { scope: 'openid' });
  const first = await start(agent, authorization);
  const callback = first.location ? first : await agent.follow(await submitLogin(agent, first, email, PASSWORD));
  const tokens = await client.authorizationCodeGrant(rp, new URL(callback.location!), {
    pkceCodeVerifier: authorization.verifier,
    expectedState: authorization.state,
  });
  return tokens.id_token!;
}

const realNow = Date.now;
/** The relying party's clock (this process's) runs five minutes ahead of Gatehouse's from now on. */
const fiveMinutesPassForTheRelyingParty = () => {
  Date.now = () => realNow() + 300_000;
};
afterEach(() => {
  Date.now = realNow;
});

const cachedKids = (rp: client.Configuration) => (client.getJwksCache(rp)?.jwks.keys ?? []).map((key) => key.kid);

test('oidcc-server-rotate-keys: a relying party keeps validating ID tokens across keys rotate then keys activate', async () => {
  const rp = await client.discovery(new URL(gatehouse.url), credentials.clientId, credentials.clientSecret, undefined, {
    execute: [client.allowInsecureRequests],
  });
  // The relying party checks every ID token's signature against Gatehouse's JWKS, which it caches.
  client.enableNonRepudiationChecks(rp);
  const agent = new Agent(REDIRECT_URI);

  const beforeRotation = await idTokenFor(rp, agent);
  const oldKid = decodeProtectedHeader(beforeRotation).kid!;
  expect(cachedKids(rp)).toEqual([oldKid]);

  // Step 1: the next key is published on the running process; it does not sign yet.
  const rotated = await cli('keys', 'rotate');
  const nextKid = rotated.keys.find((key) => key.status === 'next')!.kid;
  expect(await within(3, publishedKids, (kids) => kids.includes(nextKid))).toEqual([oldKid, nextKid]);
  const duringWait = await idTokenFor(rp, agent);
  expect(decodeProtectedHeader(duringWait).kid).toBe(oldKid);

  // The operator waits the README's five minutes. Only this test process's clock moves on (Gatehouse
  // runs in its own process): for the relying party, its cached JWKS is now five minutes old, past
  // what openid-client keeps (300 s), so it fetches the JWKS again at the next ID token.
  fiveMinutesPassForTheRelyingParty();
  expect(decodeProtectedHeader(await idTokenFor(rp, agent)).kid).toBe(oldKid);
  expect(cachedKids(rp)).toEqual([oldKid, nextKid]);

  // Step 2: the next key signs. The relying party's JWKS is less than a minute old, so on an
  // unknown kid it would fail rather than fetch again: it validates only because the key was
  // published before it was used.
  await cli('keys', 'activate');
  expect(await within(3, publishedKids, (kids) => kids[0] === nextKid)).toEqual([nextKid, oldKid]);
  const afterActivation = await idTokenFor(rp, agent);
  expect(decodeProtectedHeader(afterActivation).kid).toBe(nextKid);
  expect(cachedKids(rp)).toEqual([oldKid, nextKid]);

  // The retired key stays published: a relying party that fetches the JWKS now still verifies
  // what the old key signed, and Gatehouse itself still accepts it as an id_token_hint at logout.
  const freshJwks = createRemoteJWKSet(new URL(`${gatehouse.url}/jwks`));
  for (const token of [beforeRotation, duringWait, afterActivation]) {
    await jwtVerify(token, freshJwks, { issuer: gatehouse.url, audience: credentials.clientId });
  }
  const logout = await agent.follow(
    await agent.get(
      client
        .buildEndSessionUrl(rp, { id_token_hint: beforeRotation, post_logout_redirect_uri: 'http://localhost:65010/signed-out' })
        .toString(),
    ),
  );
  // The hint was verified (a bad one is an error page): the question names the school system it came from.
  expect(logout.status).toBe(200);
  expect(visibleText(logout.html)).toContain('Do you want to log out of Gatehouse and Hill MIS?');

  expect((await cli('keys', 'list')).keys).toEqual([
    expect.objectContaining({ kid: nextKid, status: 'signing' }),
    expect.objectContaining({ kid: oldKid, status: 'retired' }),
  ]);
}, 60_000);
