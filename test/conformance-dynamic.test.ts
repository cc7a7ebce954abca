import crypto from 'node:crypto';
import { decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT } from 'jose';
import * as client from 'openid-client';
import { operatorAuthority } from '../src/admin/authority.ts';
import { visibleText } from './support/agent.ts';
import { useGatehouse } from './support/fixture.ts';
import { browserAgent, discovery, privateKeyJwtRelyingParty } from './support/oidc.ts';
import { Agent, authorizationRequest, exchange, PASSWORD, staff, start, submitLogin } from './support/scenario.ts';

/**
 * What Gatehouse does with each module of the OpenID Foundation's Dynamic OP plan
 * (oidcc-dynamic-certification-test-plan). Gatehouse does not seek that profile
 * (docs/conformance.md says why); these tests pin down what the suite would meet. Registration
 * is done as the suite does it: an initial access token (from the CLI's service), then a client
 * with its own RS256 key (`jwks`), private_key_jwt, response type code and a contact.
 * The jwks_uri modules need Gatehouse to fetch over https: conformance-dynamic-jwks-uri.test.ts.
 */
const world = useGatehouse({ client: false });
const EMAIL = 'dynamic@hill.example';
const CALLBACK = 'http://localhost:65010/cb';
let initialAccessToken: string;
let keys: Awaited<ReturnType<typeof generateKeyPair>>;
let publicJwk: Record<string, unknown>;

beforeAll(async () => {
  await staff(world, EMAIL, 'basic');
  initialAccessToken = await world.services.admin.clients.issueInitialAccessToken(operatorAuthority('conformance'), 1);
  keys = await generateKeyPair('RS256', { extractable: true });
  publicJwk = { ...(await exportJWK(keys.publicKey)), kid: 'suite-rp-1', use: 'sig', alg: 'RS256' };
});

/** POST /reg as the suite's OIDCCCreateDynamicClientRegistrationRequest does, with `extra` on top. */
async function register(extra: Record<string, unknown> = {}) {
  const response = await fetch(`${world.issuer}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${initialAccessToken}` },
    body: JSON.stringify({
      client_name: `Suite ${crypto.randomUUID()}`,
      grant_types: ['authorization_code'],
      jwks: { keys: [publicJwk] },
      token_endpoint_auth_method: 'private_key_jwt',
      response_types: ['code'],
      redirect_uris: [CALLBACK],
      contacts: ['certification@rp.example'],
      ...extra,
    }),
  });
  return { status: response.status, type: response.headers.get('content-type'), body: (await response.json()) as Record<string, unknown> };
}

/** A registered client, linked by the helpdesk to the school (what every sign-in through it needs), as an openid-client RP. */
async function registeredRelyingParty(extra: Record<string, unknown> = {}) {
  const registered = await register(extra);
  expect(registered.status).toBe(201);
  const clientId = registered.body.client_id as string;
  await world.services.clients.link(clientId, [world.schoolId]);
  const rp = await privateKeyJwtRelyingParty(world.issuer, clientId, { key: keys.privateKey, kid: 'suite-rp-1' });
  client.enableNonRepudiationChecks(rp);
  return { rp, clientId, registered: registered.body };
}

/** A sign-in through `rp` to `redirectUri`: the code exchanged with private_key_jwt. */
async function signIn(rp: client.Configuration, redirectUri = CALLBACK, params: Record<string, string> = {}) {
  const agent = new Agent('http://localhost:65010/');
  const authorization = await authorizationRequest(rp, { redirect_uri: redirectUri, scope: 'openid', ...params });
  const callback = await agent.follow(await submitLogin(agent, await start(agent, authorization), EMAIL, PASSWORD));
  expect(callback.location).toMatch(/[?&]code=/);
  return exchange(rp, callback, authorization);
}

/** The page a browser lands on for this authorization request: never followed off Gatehouse. */
async function pageFor(rp: client.Configuration, params: Record<string, string>) {
  const agent = browserAgent('http://localhost:65010/');
  return agent.follow(await agent.get((await authorizationRequest(rp, { scope: 'openid', redirect_uri: CALLBACK, ...params })).url));
}

test('oidcc-server (Dynamic): the suite’s registration is accepted; after the helpdesk links it, it signs in with private_key_jwt', async () => {
  const registered = await register();
  expect(registered.status).toBe(201);
  expect(registered.type).toMatch(/^application\/json/);
  expect(registered.body).toMatchObject({
    client_id: expect.any(String),
    registration_access_token: expect.any(String),
    registration_client_uri: expect.stringContaining('/reg/'),
    token_endpoint_auth_method: 'private_key_jwt',
    jwks: { keys: [expect.objectContaining({ kid: 'suite-rp-1' })] },
  });
  // Not linked to a school: the person is refused, whatever the suite does next.
  const unlinked = await client.discovery(new URL(world.issuer), registered.body.client_id as string, undefined, client.None(), {
    execute: [client.allowInsecureRequests],
  });
  const agent = new Agent('http://localhost:65010/');
  const refused = await agent.follow(
    await submitLogin(agent, await start(agent, await authorizationRequest(unlinked, { redirect_uri: CALLBACK })), EMAIL, PASSWORD),
  );
  expect(refused.status).toBe(403);

  const { rp } = await registeredRelyingParty();
  expect((await signIn(rp)).claims()!.sub).toEqual(expect.any(String));
});

test('oidcc-idtoken-rs256: registered for RS256, the ID token is RS256', async () => {
  const { rp, registered } = await registeredRelyingParty({ id_token_signed_response_alg: 'RS256' });
  expect(registered.id_token_signed_response_alg).toBe('RS256');
  expect(decodeProtectedHeader((await signIn(rp)).id_token!).alg).toBe('RS256');
});

test('oidcc-idtoken-unsigned: a client cannot register unsigned ID tokens (and discovery offers RS256 only, so the suite skips)', async () => {
  const refused = await register({ id_token_signed_response_alg: 'none' });
  expect(refused.status).toBe(400);
  expect(refused.body.error).toBe('invalid_client_metadata');
});

test('oidcc-userinfo-rs256: departs: userinfo_signed_response_alg is dropped at registration and userinfo answers JSON', async () => {
  const { rp, registered } = await registeredRelyingParty({ userinfo_signed_response_alg: 'RS256' });
  // RFC 7591 §3.2.1: the server may replace requested metadata; the response says what was registered.
  expect(registered).not.toHaveProperty('userinfo_signed_response_alg');
  const tokens = await signIn(rp);
  const userinfo = await fetch(`${world.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  expect(userinfo.headers.get('content-type')).toMatch(/^application\/json/);
});

test('oidcc-ensure-redirect-uri-in-authorization-request: two redirect URIs registered and none sent: an error page', async () => {
  const { rp } = await registeredRelyingParty({ redirect_uris: [CALLBACK, 'http://localhost:65010/cb2'] });
  const url = new URL((await authorizationRequest(rp, { scope: 'openid', redirect_uri: CALLBACK })).url);
  url.searchParams.delete('redirect_uri');
  const agent = browserAgent('http://localhost:65010/');
  const page = await agent.follow(await agent.get(url.toString()));
  expect([page.status, page.location]).toEqual([400, null]);
  expect(visibleText(page.html)).toContain('redirect_uri');
});

test('oidcc-redirect-uri-query-OK: a registered query is kept, and the code is added to it', async () => {
  const withQuery = `${CALLBACK}?foo=bar`;
  const { rp } = await registeredRelyingParty({ redirect_uris: [withQuery] });
  const agent = new Agent('http://localhost:65010/');
  const authorization = await authorizationRequest(rp, { redirect_uri: withQuery, scope: 'openid' });
  const callback = await agent.follow(await submitLogin(agent, await start(agent, authorization), EMAIL, PASSWORD));
  const back = new URL(callback.location!);
  expect(`${back.origin}${back.pathname}`).toBe(CALLBACK);
  expect(back.searchParams.get('foo')).toBe('bar');
  expect(back.searchParams.get('code')).toEqual(expect.any(String));
});

test('oidcc-redirect-uri-query-mismatch and oidcc-redirect-uri-query-added: any other query is an unregistered address: error page', async () => {
  const { rp } = await registeredRelyingParty({ redirect_uris: [`${CALLBACK}?foo=bar`, 'http://localhost:65010/plain'] });
  for (const redirectUri of [`${CALLBACK}?foo=zot`, 'http://localhost:65010/plain?foo=bar']) {
    const page = await pageFor(rp, { redirect_uri: redirectUri });
    expect([redirectUri, page.status, page.location]).toEqual([redirectUri, 400, null]);
    expect(visibleText(page.html)).toContain('an address it has not registered');
  }
});

test('oidcc-redirect-uri-regfrag: a redirect URI with a fragment is refused at registration', async () => {
  const refused = await register({ redirect_uris: [`${CALLBACK}#fragment`] });
  expect(refused.status).toBe(400);
  expect(refused.type).toMatch(/^application\/json/);
  // RFC 7591 §3.2.2's code, with the school-system policy's words for why.
  expect(refused.body).toMatchObject({ error: 'invalid_redirect_uri', error_description: expect.stringContaining('fragment') });
});

test('oidcc-registration-logo-uri, -policy-uri, -tos-uri: departs: registered, but the sign-in page shows the school, not the client’s logo or links', async () => {
  const uris = { logo_uri: 'https://rp.example/logo.png', policy_uri: 'https://rp.example/policy', tos_uri: 'https://rp.example/tos' };
  const { rp, registered } = await registeredRelyingParty(uris);
  expect(registered).toMatchObject(uris);
  const login = await pageFor(rp, {});
  expect(login.html).toContain('name="password"');
  expect(visibleText(login.html)).toContain('Hill Primary School Single Sign-On');
  for (const uri of Object.values(uris)) expect(login.html).not.toContain(uri);
});

test('oidcc-request-uri-unsigned, oidcc-request-uri-signed-rs256: departs: request_uri is not supported (request_uri_not_supported)', async () => {
  const { rp, registered } = await registeredRelyingParty({ request_uris: ['https://rp.example/requests/1.jwt'] });
  expect(registered).not.toHaveProperty('request_uris');
  expect(rp.serverMetadata().request_uri_parameter_supported).toBe(false);
  const authorization = await authorizationRequest(rp, {
    scope: 'openid',
    redirect_uri: CALLBACK,
    request_uri: 'https://rp.example/requests/1.jwt',
  });
  const agent = new Agent('http://localhost:65010/');
  const back = await agent.follow(await agent.get(authorization.url));
  expect(new URL(back.location!).searchParams.get('error')).toBe('request_uri_not_supported');
});

test('oidcc-ensure-client-assertion-with-iss-aud-succeeds: a client assertion whose aud is the issuer is accepted, as is the token endpoint', async () => {
  const { clientId } = await registeredRelyingParty({ grant_types: ['authorization_code', 'client_credentials'] });
  for (const audience of [world.issuer, `${world.issuer}/token`]) {
    const assertion = await new SignJWT({ jti: crypto.randomUUID() })
      .setProtectedHeader({ alg: 'RS256', kid: 'suite-rp-1' })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(keys.privateKey);
    const token = await fetch(`${world.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion,
      }),
    });
    expect([audience, token.status]).toEqual([audience, 200]);
  }
});

test('oidcc-discovery-endpoint-verification (Dynamic variant): departs: no id_token or token id_token response types, no implicit grant', async () => {
  const metadata = await discovery<Record<string, string[]>>(world.issuer);
  // Discovery §3 for dynamic OPs asks for code, id_token and id_token token; Gatehouse issues codes only.
  expect(metadata.response_types_supported).not.toContain('id_token');
  expect(metadata.grant_types_supported).not.toContain('implicit');
  const refused = await register({ grant_types: ['implicit'], response_types: ['id_token'] });
  expect([refused.status, refused.body.error]).toEqual([400, 'invalid_client_metadata']);
});
