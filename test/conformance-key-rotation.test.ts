import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { visibleText } from './support/agent.ts';
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
import { publishedKids } from './support/oidc.ts';
import { adminCliJson, useSpawnedGatehouse, within } from './support/spawned.ts';

/**
 * OpenID Certification, Config OP and `oidcc-server-rotate-keys` (README "Signing keys"): a relying
 * party that has already validated ID tokens keeps validating them across `keys rotate` then
 * `keys activate`, run from the CLI (another process) against a running Gatehouse (its own process),
 * with no restart. The relying party is openid-client with signature checks on (by default it
 * trusts TLS for ID tokens from the token endpoint and checks no signature at all).
 */
let credentials: { clientId: string; clientSecret: string };
const email = 'rotation@hill.example';

const world = useSpawnedGatehouse({
  async prepare(services) {
    const school = await addSchool(services, 'Hill Primary School');
    credentials = await addClient(services, 'Hill MIS', [school.id], { postLogoutRedirectUris: ['http://localhost:65010/signed-out'] });
    await addStaff(services, email, [{ schoolId: school.id, accessLevel: 'basic' }]);
  },
  // A periodic refresh slower than the test: only the change announced by the CLI can reach the process in time.
  env: { CACHE_REFRESH_SECONDS: '3600' },
});

const keys = (...args: string[]) => adminCliJson<{ keys: Array<{ kid: string; status: string }> }>(world.storage, 'keys', ...args);

const kidsPublished = () => publishedKids(world.gatehouse.url);

/** One browser's sign-in (single sign-on after the first), its code exchanged: the ID token, signature checked. */
async function idTokenFor(rp: client.Configuration, agent: Agent) {
  const authorization = await authorizationRequest(rp, { scope: 'openid' });
  const first = await start(agent, authorization);
  const callback = first.location ? first : await agent.follow(await submitLogin(agent, first, email, PASSWORD));
  return (await exchange(rp, callback, authorization)).id_token!;
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
  const rp = await relyingParty(world.gatehouse.url, credentials);
  // The relying party checks every ID token's signature against Gatehouse's JWKS, which it caches.
  client.enableNonRepudiationChecks(rp);
  const agent = new Agent(REDIRECT_URI);

  const beforeRotation = await idTokenFor(rp, agent);
  const oldKid = decodeProtectedHeader(beforeRotation).kid!;
  expect(cachedKids(rp)).toEqual([oldKid]);

  // Step 1: the next key is published on the running process; it does not sign yet.
  const rotated = await keys('rotate');
  const nextKid = rotated.keys.find((key) => key.status === 'next')!.kid;
  expect(await within(3, kidsPublished, (kids) => kids.includes(nextKid))).toEqual([oldKid, nextKid]);
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
  await keys('activate');
  expect(await within(3, kidsPublished, (kids) => kids[0] === nextKid)).toEqual([nextKid, oldKid]);
  const afterActivation = await idTokenFor(rp, agent);
  expect(decodeProtectedHeader(afterActivation).kid).toBe(nextKid);
  expect(cachedKids(rp)).toEqual([oldKid, nextKid]);

  // The retired key stays published: a relying party that fetches the JWKS now still verifies
  // what the old key signed, and Gatehouse itself still accepts it as an id_token_hint at logout.
  const freshJwks = createRemoteJWKSet(new URL(`${world.gatehouse.url}/jwks`));
  for (const token of [beforeRotation, duringWait, afterActivation]) {
    await jwtVerify(token, freshJwks, { issuer: world.gatehouse.url, audience: credentials.clientId });
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

  expect((await keys('list')).keys).toEqual([
    expect.objectContaining({ kid: nextKid, status: 'signing' }),
    expect.objectContaining({ kid: oldKid, status: 'retired' }),
  ]);
}, 60_000);
