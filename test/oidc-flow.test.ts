import * as client from 'openid-client';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
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
  continueWithBasic,
} from './support/scenario.ts';

let storage: TestStorage;
let gatehouse: TestGatehouse;
let hill: { id: string; name: string; postcode: string };
let oak: { id: string; name: string; postcode: string };
let hillClient: { clientId: string; clientSecret: string };
let oakClient: { clientId: string; clientSecret: string };

beforeAll(async () => {
  storage = await createTestStorage();
  gatehouse = await startTestGatehouse(storage);
  const { services } = gatehouse;
  hill = await addSchool(services, 'Hill Primary School', 'HP1 1AA');
  oak = await addSchool(services, 'Oak Academy', 'OA2 2BB');
  hillClient = await addClient(services, 'Hill MIS', [hill.id]);
  oakClient = await addClient(services, 'Oak Library', [oak.id]);
  await addStaff(services, 'Teacher@Hill.example', [{ schoolId: hill.id, accessLevel: 'basic' }]);
  await addStaff(services, 'head@hill.example', [
    { schoolId: hill.id, accessLevel: 'higher' },
    { schoolId: oak.id, accessLevel: 'basic' },
  ]);
});

afterAll(async () => {
  await gatehouse?.close();
  await storage?.drop();
});

async function signIn(credentials: typeof hillClient, email: string, params: Record<string, string> = {}) {
  const rp = await relyingParty(gatehouse.issuer, credentials);
  const agent = new Agent(REDIRECT_URI);
  const authorization = await authorizationRequest(rp, params);
  const login = await start(agent, authorization);
  const callback = await agent.follow(await submitLogin(agent, login, email, PASSWORD));
  return { rp, agent, authorization, login, callback };
}

describe('discovery', () => {
  test('advertises the Gatehouse contract', async () => {
    const rp = await relyingParty(gatehouse.issuer, hillClient);
    const metadata = rp.serverMetadata();
    expect(metadata.issuer).toBe(gatehouse.issuer);
    expect(metadata.acr_values_supported).toEqual(['urn:gatehouse:acr:basic', 'urn:gatehouse:acr:higher']);
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
    expect(metadata.scopes_supported).toEqual(expect.arrayContaining(['openid', 'offline_access', 'school', 'email', 'profile']));
    expect(metadata.claims_supported).toEqual(expect.arrayContaining(['school', 'access_level', 'schools', 'acr', 'amr']));
    // 'none' serves Gatehouse's own account pages, which need a session and no tokens.
    expect(metadata.response_types_supported).toEqual(['code', 'none']);
    const jwks = (await (await fetch(metadata.jwks_uri!)).json()) as { keys: object[] };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).not.toHaveProperty('d');
  });
});

describe('authorization code flow with PKCE', () => {
  test('a member signs in and the client gets a validated ID token with the school claims', async () => {
    const { rp, login, callback, authorization } = await signIn(hillClient, 'teacher@hill.example');
    expect(visibleText(login.html)).toContain('Hill Primary School Single Sign-On');
    expect(visibleText(login.html)).toContain('Forgotten your password or using SSO for the first time?');
    expect(callback.location).toMatch(new RegExp(`^${REDIRECT_URI}\\?code=`));

    const tokens = await exchange(rp, callback, authorization);
    const claims = tokens.claims()!;
    expect(claims.iss).toBe(gatehouse.issuer);
    expect(claims.aud).toBe(hillClient.clientId);
    expect(claims.acr).toBe('urn:gatehouse:acr:basic');
    expect(claims.amr).toEqual(['pwd']);
    expect(claims.email).toBe('Teacher@Hill.example');
    expect(claims.school).toEqual({ id: hill.id, name: 'Hill Primary School', postcode: 'HP1 1AA' });
    expect(claims.access_level).toBe('basic');
    expect(claims.schools).toEqual([{ id: hill.id, name: 'Hill Primary School', postcode: 'HP1 1AA', login_uri: null }]);

    const userinfo = await client.fetchUserInfo(rp, tokens.access_token, claims.sub);
    expect(userinfo).toMatchObject({ sub: claims.sub, access_level: 'basic', school: claims.school, email_verified: true });
  });

  test('a higher member without a passed code has basic access only (rule 4)', async () => {
    const { rp, agent, callback: offer, authorization } = await signIn(hillClient, 'head@hill.example');
    expect(visibleText(offer.html)).toContain('You have basic access only until you set up your authenticator app.');
    const callback = await continueWithBasic(agent, offer);
    const claims = (await exchange(rp, callback, authorization)).claims()!;
    expect(claims.access_level).toBe('basic');
    expect(claims.acr).toBe('urn:gatehouse:acr:basic');
    expect((claims.schools as Array<{ name: string }>).map((school) => school.name)).toEqual(['Hill Primary School', 'Oak Academy']);
  });

  test('offline_access with prompt=consent yields a refresh token that works once (rotation)', async () => {
    const { rp, callback, authorization } = await signIn(hillClient, 'teacher@hill.example', {
      scope: 'openid school offline_access',
      prompt: 'consent',
    });
    const tokens = await exchange(rp, callback, authorization);
    expect(tokens.refresh_token).toBeTruthy();
    const refreshed = await client.refreshTokenGrant(rp, tokens.refresh_token!);
    expect(refreshed.access_token).not.toBe(tokens.access_token);
    expect(refreshed.claims()?.school).toEqual(expect.objectContaining({ id: hill.id }));
    await expect(client.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  test('an authorization code cannot be exchanged twice, even concurrently', async () => {
    const { rp, callback, authorization } = await signIn(hillClient, 'teacher@hill.example');
    const results = await Promise.allSettled([
      exchange(rp, callback, authorization),
      exchange(rp, callback, authorization),
      exchange(rp, callback, authorization),
    ]);
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
  });

  test('single sign-on: a second school system signs the same person in without a password', async () => {
    const first = await signIn(hillClient, 'head@hill.example');
    await continueWithBasic(first.agent, first.callback);
    const oakRp = await relyingParty(gatehouse.issuer, oakClient);
    const authorization = await authorizationRequest(oakRp);
    const callback = await start(first.agent, authorization);
    expect(callback.location).toMatch(/\?code=/);
    const claims = (await exchange(oakRp, callback, authorization)).claims()!;
    expect(claims.school).toEqual(expect.objectContaining({ id: oak.id, name: 'Oak Academy' }));
  });
});

describe('refusals', () => {
  test('a wrong password and an unknown email get the same words and no session', async () => {
    const rp = await relyingParty(gatehouse.issuer, hillClient);
    const agent = new Agent(REDIRECT_URI);
    const login = await start(agent, await authorizationRequest(rp));
    const wrongPassword = await submitLogin(agent, login, 'teacher@hill.example', 'not the password at all');
    const unknown = await submitLogin(agent, login, 'nobody@hill.example', PASSWORD);
    for (const page of [wrongPassword, unknown]) {
      expect(page.status).toBe(401);
      expect(visibleText(page.html)).toContain('The email address or password is not right.');
    }
    expect(visibleText(unknown.html)).not.toContain(PASSWORD);

    const empty = await submitLogin(agent, login, '', '');
    expect(empty.status).toBe(400);
    expect(visibleText(empty.html)).toContain('Enter your email address and your password.');

    // The address bar shows the form's action after a refusal; opening it leads back to the page.
    const reopened = await agent.get(`${login.url}/login`);
    expect(reopened.status).toBe(302);
    expect(reopened.location).toBe(login.url);
  });

  test('an account with no membership at the client’s school gets a clear page, then access_denied', async () => {
    const { agent, callback: deniedPage } = await signIn(oakClient, 'teacher@hill.example');
    expect(deniedPage.status).toBe(403);
    expect(visibleText(deniedPage.html)).toContain('Your account does not have access to Oak Academy.');
    const action = new URL(/action="([^"]+)"/.exec(deniedPage.html)![1]!, deniedPage.url).toString();
    const csrf = /name="_csrf" value="([^"]+)"/.exec(deniedPage.html)![1]!;
    const back = await agent.follow(await agent.post(action, { _csrf: csrf }));
    const params = new URL(back.location!).searchParams;
    expect(params.get('error')).toBe('access_denied');
  });

  test('prompt=none for a non-member answers access_denied without a page', async () => {
    const first = await signIn(hillClient, 'teacher@hill.example');
    const oakRp = await relyingParty(gatehouse.issuer, oakClient);
    const back = await start(first.agent, await authorizationRequest(oakRp, { prompt: 'none' }));
    expect(new URL(back.location!).searchParams.get('error')).toBe('access_denied');
  });

  test('a locked account cannot sign in, even with the right password', async () => {
    await addStaff(gatehouse.services, 'locked@hill.example', [{ schoolId: hill.id, accessLevel: 'basic' }]);
    await gatehouse.services.accounts.setStatus('locked@hill.example', 'locked');
    const { callback } = await signIn(hillClient, 'locked@hill.example');
    expect(callback.status).toBe(423);
    expect(visibleText(callback.html)).toContain('This account is locked');
  });

  test('authorization requests without PKCE or with an unknown client are refused without a 5xx', async () => {
    const rp = await relyingParty(gatehouse.issuer, hillClient);
    const noPkce = client.buildAuthorizationUrl(rp, { redirect_uri: REDIRECT_URI, scope: 'openid' });
    const agent = new Agent(REDIRECT_URI);
    const refused = await agent.follow(await agent.get(noPkce.toString()));
    expect(new URL(refused.location!).searchParams.get('error')).toBe('invalid_request');

    const unknownClient = await agent.get(`${gatehouse.issuer}/auth?client_id=nope&response_type=code&scope=openid`);
    expect(unknownClient.status).toBe(400);
    expect(visibleText(unknownClient.html)).toContain('invalid_client');
  });

  test('forms without the CSRF token, with garbage, or on expired interactions get words, not a 5xx', async () => {
    const rp = await relyingParty(gatehouse.issuer, hillClient);
    const agent = new Agent(REDIRECT_URI);
    const login = await start(agent, await authorizationRequest(rp));
    const uid = /\/interaction\/([^/?]+)/.exec(login.url)![1]!;
    const noCsrf = await agent.post(`${gatehouse.issuer}/interaction/${uid}/login`, { email: 'a@b.c', password: 'x' });
    expect(noCsrf.status).toBe(403);
    expect(visibleText(noCsrf.html)).toContain('This form has expired');

    const stranger = new Agent(REDIRECT_URI);
    const expired = await stranger.get(`${gatehouse.issuer}/interaction/${uid}`);
    expect(expired.status).toBe(400);
    expect(visibleText(expired.html)).toContain('This sign-in has expired');

    const malformed = await agent.send(`${gatehouse.issuer}/interaction/${uid}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `email=${'%'.repeat(10)}&password=${'x'.repeat(40_000)}`,
    });
    expect(malformed.status).toBeGreaterThanOrEqual(400);
    expect(malformed.status).toBeLessThan(500);

    const tokenWithoutAuth = await fetch(`${gatehouse.issuer}/token`, { method: 'POST', body: 'grant_type=authorization_code&code=x' });
    expect(tokenWithoutAuth.status).toBe(400);
    expect(await tokenWithoutAuth.json()).toMatchObject({ error: expect.any(String) });
  });
});

describe('sessions and tokens end when they should', () => {
  test('using the single sign-on session moves its idle deadline, never past the absolute lifetime from sign-in', async () => {
    const first = await signIn(hillClient, 'teacher@hill.example');
    const session = async () =>
      (
        await gatehouse.database.dataSource.query(
          `SELECT expires_at AS at, payload FROM oidc_payloads WHERE model = 'Session' ORDER BY expires_at DESC LIMIT 1`,
        )
      )[0];
    const before = await session();
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    const again = await start(first.agent, await authorizationRequest(first.rp));
    expect(again.location).toMatch(/code=/);
    const after = await session();
    expect(after.at.getTime()).toBeGreaterThan(before.at.getTime() + 1_000);
    expect(after.at.getTime() - Date.now()).toBeLessThanOrEqual(30 * 60_000); // the idle timeout, not 12 h
    expect(after.at.getTime()).toBeLessThanOrEqual((after.payload.loginTs + 12 * 3600) * 1000 + 1_000);
  });

  test('a NUL character in any parameter is an invalid_request, not a server error', async () => {
    const rp = await relyingParty(gatehouse.issuer, hillClient);
    const agent = new Agent(REDIRECT_URI);
    const url = `${(await authorizationRequest(rp)).url}&nonce=%00`;
    const answer = await agent.follow(await agent.get(url));
    expect(new URL(answer.location!).searchParams.get('error')).toBe('invalid_request');
  });

  test('a client cannot introspect or revoke another client’s token', async () => {
    const { rp, callback, authorization } = await signIn(hillClient, 'teacher@hill.example');
    const tokens = await exchange(rp, callback, authorization);
    const oakRp = await relyingParty(gatehouse.issuer, oakClient);
    expect(await client.tokenIntrospection(oakRp, tokens.access_token)).toMatchObject({ active: false });
    const own = await client.tokenIntrospection(rp, tokens.access_token);
    expect(own).toMatchObject({ active: true, client_id: hillClient.clientId, acr: 'urn:gatehouse:acr:basic' });
    await client.tokenRevocation(rp, tokens.access_token);
    expect(await client.tokenIntrospection(rp, tokens.access_token)).toMatchObject({ active: false });
  });

  test('locking an account ends its single sign-on session and refresh tokens (no 5xx)', async () => {
    await addStaff(gatehouse.services, 'leaver@hill.example', [{ schoolId: hill.id, accessLevel: 'basic' }]);
    const first = await signIn(hillClient, 'leaver@hill.example', { scope: 'openid school offline_access', prompt: 'consent' });
    const tokens = await exchange(first.rp, first.callback, first.authorization);
    await gatehouse.services.accounts.setStatus('leaver@hill.example', 'locked');

    const silent = await start(first.agent, await authorizationRequest(first.rp, { prompt: 'none' }));
    expect(new URL(silent.location!).searchParams.get('error')).toBe('login_required');
    const interactive = await start(first.agent, await authorizationRequest(first.rp));
    expect(interactive.status).toBe(200);
    expect(visibleText(interactive.html)).toContain('Log in');
    await expect(client.refreshTokenGrant(first.rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  test("a session that outlived its account's lock is not honoured (account_unavailable)", async () => {
    // A session written while the lock was being applied survives the lock's revocation: the
    // prompt policy, not the revocation, is what stops it.
    const account = await addStaff(gatehouse.services, 'racing@hill.example', [{ schoolId: hill.id, accessLevel: 'basic' }]);
    const first = await signIn(hillClient, 'racing@hill.example');
    await gatehouse.services.repositories.accounts.setStatus(account.id, 'locked');

    const silent = await start(first.agent, await authorizationRequest(first.rp, { prompt: 'none' }));
    expect(new URL(silent.location!).searchParams.get('error')).toBe('login_required');
    const interactive = await start(first.agent, await authorizationRequest(first.rp));
    expect(interactive.status).toBe(200);
    expect(visibleText(interactive.html)).toContain('Log in');

    await gatehouse.services.repositories.accounts.setStatus(account.id, 'active');
    const again = await start(first.agent, await authorizationRequest(first.rp, { prompt: 'none' }));
    expect(new URL(again.location!).searchParams.get('code')).toEqual(expect.any(String));
  });
});
