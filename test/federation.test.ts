import * as client from 'openid-client';
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader } from 'jose';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { formField, visibleText } from './support/agent.ts';
import { activateNextSigningKey, addNextSigningKey } from '../src/oidc/keys.ts';
import {
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

let storage: TestStorage;
let gatehouse: TestGatehouse;
let hill: { id: string };
let oak: { id: string };
let trust: { clientId: string; clientSecret: string };

beforeAll(async () => {
  storage = await createTestStorage();
  gatehouse = await startTestGatehouse(storage);
  const { services } = gatehouse;
  hill = await addSchool(services, 'Hill Primary School');
  oak = await addSchool(services, 'Oak Academy');
  // One client for a trust that runs both schools.
  trust = await services.clients.add({
    name: 'Trust MIS',
    schoolIds: [hill.id, oak.id],
    redirectUris: [REDIRECT_URI],
    postLogoutRedirectUris: ['http://localhost:65010/signed-out'],
    initiateLoginUri: 'https://mis.trust.example/login',
  });
  await addStaff(services, 'both@trust.example', [
    { schoolId: hill.id, accessLevel: 'basic' },
    { schoolId: oak.id, accessLevel: 'basic' },
  ]);
});

afterAll(async () => {
  await gatehouse?.close();
  await storage?.drop();
});

async function signIn(params: Record<string, string> = {}, agent = new Agent(REDIRECT_URI)) {
  const rp = await relyingParty(gatehouse.issuer, trust);
  const authorization = await authorizationRequest(rp, params);
  const first = await start(agent, authorization);
  const next = first.location ? first : await agent.follow(await submitLogin(agent, first, 'both@trust.example', PASSWORD));
  return { rp, agent, authorization, next };
}

describe('schools', () => {
  test('a client serving two of the person’s schools asks which one, and the choice is the school claim', async () => {
    const { rp, agent, authorization, next } = await signIn();
    expect(visibleText(next.html)).toContain('Which school are you signing in for?');
    const callback = await agent.follow(
      await agent.post(new URL(/action="([^"]+\/school)"/.exec(next.html)![1]!, next.url).toString(), {
        _csrf: formField(next.html, '_csrf'),
        school: oak.id,
      }),
    );
    const claims = (await exchange(rp, callback, authorization)).claims()!;
    expect(claims.school).toMatchObject({ id: oak.id, name: 'Oak Academy' });
    expect(claims.schools).toEqual([
      expect.objectContaining({ id: hill.id, login_uri: 'https://mis.trust.example/login' }),
      expect.objectContaining({ id: oak.id, login_uri: 'https://mis.trust.example/login' }),
    ]);

    // Switching: the client sends the school it wants; no password, no question.
    const switched = await authorizationRequest(rp, { school: hill.id });
    const back = await start(agent, switched);
    expect((await exchange(rp, back, switched)).claims()!.school).toMatchObject({ id: hill.id });
  });

  test('a school hint the person is not a member of is ignored, and the question is asked', async () => {
    const { next } = await signIn({ school: '00000000-0000-4000-8000-000000000000' });
    expect(visibleText(next.html)).toContain('Which school are you signing in for?');
  });
});

describe('re-authentication', () => {
  test('prompt=login and max_age ask for the password again', async () => {
    const first = await signIn({ school: hill.id });
    expect(first.next.location).toMatch(/code=/);
    const again = await start(first.agent, await authorizationRequest(first.rp, { prompt: 'login', school: hill.id }));
    expect(again.html).toContain('name="password"');
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const aged = await start(first.agent, await authorizationRequest(first.rp, { max_age: '1', school: hill.id }));
    expect(aged.html).toContain('name="password"');
  });
});

describe('logout', () => {
  // Back-channel delivery is tested against a spawned process in backchannel-logout.test.ts.
  test('RP-initiated logout confirms in the hosted style, ends the session, and returns', async () => {
    const { rp, agent, authorization, next } = await signIn({ school: hill.id });
    const tokens = await exchange(rp, next, authorization);
    const endSession = client.buildEndSessionUrl(rp, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: 'http://localhost:65010/signed-out',
      state: 'bye',
    });
    const confirm = await agent.follow(await agent.get(endSession.toString()));
    expect(visibleText(confirm.html)).toContain('Do you want to log out of Gatehouse');
    const action = /<form method="post" action="([^"]+)"/.exec(confirm.html)![1]!;
    const done = await agent.post(new URL(action, confirm.url).toString(), { xsrf: formField(confirm.html, 'xsrf'), logout: 'yes' });
    const returned = await new Agent('http://localhost:65010/').follow(done);
    expect(returned.location).toMatch(/^http:\/\/localhost:65010\/signed-out\?state=bye/);

    // The session is over: the next sign-in needs the password.
    const fresh = await start(agent, await authorizationRequest(rp, { school: hill.id }));
    expect(fresh.html).toContain('name="password"');
  });
});

test('“Log out of the school system only” keeps the Gatehouse session for the others', async () => {
  const { rp, agent, authorization, next } = await signIn({ school: hill.id });
  const tokens = await exchange(rp, next, authorization);
  const endSession = client.buildEndSessionUrl(rp, {
    id_token_hint: tokens.id_token!,
    post_logout_redirect_uri: 'http://localhost:65010/signed-out',
  });
  const confirm = await agent.follow(await agent.get(endSession.toString()));
  expect(visibleText(confirm.html)).toContain('Log out of Trust MIS only');
  const action = /<form method="post" action="([^"]+)"/.exec(confirm.html)![1]!;
  await agent.post(new URL(action, confirm.url).toString(), { xsrf: formField(confirm.html, 'xsrf'), logout: '' });
  const again = await start(agent, await authorizationRequest(rp, { school: hill.id }));
  expect(again.location).toMatch(/code=/);
});

describe('integrators', () => {
  test('dynamic registration needs an initial access token and a valid school-system client', async () => {
    const reg = `${gatehouse.issuer}/reg`;
    const body = { client_name: 'Oak Library', redirect_uris: [REDIRECT_URI] };
    const post = (token: string | null, payload: unknown) =>
      fetch(reg, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(payload),
      });

    const anonymous = await post(null, body);
    expect(anonymous.status).toBe(401);
    const { provider } = await gatehouse.services.oidc();
    const iat = await new provider.InitialAccessToken({ expiresIn: 600, policies: ['school-system'] }).save();

    for (const [bad, words] of [
      [{ ...body, redirect_uris: ['http://library.example/cb'] }, 'must use https'],
      [{ ...body, redirect_uris: ['https://*.example/cb'] }, 'wildcard'],
      [{ ...body, grant_types: ['implicit'], response_types: ['id_token'] }, 'not'],
      [{ ...body, token_endpoint_auth_method: 'none' }, 'confidential'],
      [{ ...body, token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'http://127.0.0.1:9/keys' }, 'jwks_uri must use https'],
    ] as const) {
      const refused = await post(iat, bad);
      expect(refused.status).toBe(400);
      const error = (await refused.json()) as { error: string; error_description: string };
      expect(error.error).toMatch(/invalid_(client_metadata|redirect_uri)/);
      expect(error.error_description).toContain(words);
    }

    const created = await post(iat, body);
    expect(created.status).toBe(201);
    const registered = (await created.json()) as Record<string, string>;
    expect(registered.client_secret).toBeTruthy();

    // RFC 7592: read it back with the registration access token.
    const read = await fetch(registered.registration_client_uri!, {
      headers: { authorization: `Bearer ${registered.registration_access_token}` },
    });
    expect(read.status).toBe(200);

    // Not linked to a school yet: sign-ins through it are refused.
    const credentials = { clientId: registered.client_id!, clientSecret: registered.client_secret! };
    const rp = await relyingParty(gatehouse.issuer, credentials);
    const agent = new Agent(REDIRECT_URI);
    const login = await start(agent, await authorizationRequest(rp));
    const denied = await agent.follow(await submitLogin(agent, login, 'both@trust.example', PASSWORD));
    expect(denied.status).toBe(403);

    await gatehouse.services.clients.link(credentials.clientId, [oak.id]);
    const authorization = await authorizationRequest(rp);
    const callback = await start(agent, authorization);
    expect((await exchange(rp, callback, authorization)).claims()!.school).toMatchObject({ id: oak.id });
  });

  test('a machine client gets a token by client_credentials, and introspects only its own', async () => {
    const machine = await gatehouse.services.clients.add({ name: 'Timetable sync', schoolIds: [hill.id], machine: true, redirectUris: [] });
    const config = await relyingParty(gatehouse.issuer, machine);
    const tokens = await client.clientCredentialsGrant(config);
    expect(tokens.access_token).toBeTruthy();
    expect(await client.tokenIntrospection(config, tokens.access_token)).toMatchObject({ active: true, client_id: machine.clientId });
  });

  test('discovery lists registration and every grant type in use', async () => {
    const rp = await relyingParty(gatehouse.issuer, trust);
    const metadata = rp.serverMetadata();
    expect(metadata.registration_endpoint).toBe(`${gatehouse.issuer}/reg`);
    expect(metadata.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials']));
    expect(metadata.backchannel_logout_supported).toBe(true);
    expect(metadata.end_session_endpoint).toBe(`${gatehouse.issuer}/session/end`);
  });
});

describe('keys', () => {
  const restart = async () => {
    await gatehouse.close();
    gatehouse = await startTestGatehouse(storage, { PORT: new URL(gatehouse.issuer).port });
  };
  const idToken = async () => {
    const { rp, next, authorization } = await signIn({ school: hill.id });
    return (await exchange(rp, next, authorization)).id_token!;
  };
  const publishedKids = async () =>
    ((await (await fetch(`${gatehouse.issuer}/jwks`)).json()) as { keys: Array<{ kid: string }> }).keys.map((key) => key.kid);

  test('rotation publishes the next key first, then activates it; the old key still verifies', async () => {
    const oldToken = await idToken();
    const oldKid = decodeProtectedHeader(oldToken).kid;

    const published = await addNextSigningKey(gatehouse.services.repositories.secrets, gatehouse.services.box);
    const nextKid = published.find((key) => key.status === 'next')!.kid;
    await restart();
    expect(await publishedKids()).toEqual([oldKid, nextKid]);
    expect(decodeProtectedHeader(await idToken()).kid).toBe(oldKid); // published, not signing yet

    await activateNextSigningKey(gatehouse.services.repositories.secrets, gatehouse.services.box);
    await restart();
    expect(await publishedKids()).toEqual([nextKid, oldKid]);
    expect(decodeProtectedHeader(await idToken()).kid).toBe(nextKid);
    await jwtVerify(oldToken, createRemoteJWKSet(new URL(`${gatehouse.issuer}/jwks`)), { issuer: gatehouse.issuer });
  });
});
