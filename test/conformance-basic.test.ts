import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { type Page, visibleText } from './support/agent.ts';
import { useGatehouse } from './support/fixture.ts';
import { discovery, publishedKids } from './support/oidc.ts';
import {
  addClient,
  Agent,
  authorizationRequest,
  PASSWORD,
  REDIRECT_URI,
  relyingParty,
  staff,
  start,
  submitLogin,
} from './support/scenario.ts';

/**
 * The OpenID Foundation's Basic OP plan (oidcc-basic-certification-test-plan), module by module,
 * where no other test file already does what the module does (docs/conformance.md maps every
 * module). Each test is named after its module. As the suite does, every request carries a
 * `nonce` and the relying party checks the ID token's signature; unlike the suite, every request
 * carries PKCE, which Gatehouse requires (docs/conformance.md, "PKCE").
 */
const world = useGatehouse();
const EMAIL = 'conformance@hill.example';
let rp: client.Configuration;
/** What the token endpoint answered last, headers included (openid-client keeps only the body). */
let lastTokenResponse: Response | undefined;

beforeAll(async () => {
  await staff(world, EMAIL, 'basic');
  rp = await relyingParty(world.issuer, world.credentials);
  checksSignaturesAndRecords(rp);
});

function checksSignaturesAndRecords(config: client.Configuration) {
  client.enableNonRepudiationChecks(config);
  config[client.customFetch] = async (url, options) => {
    const response = await fetch(url, options as RequestInit);
    if (new URL(url).pathname === '/token') lastTokenResponse = response.clone();
    return response;
  };
}

type Flow = Awaited<ReturnType<typeof authorize>>;

/** Sends the browser to the authorization endpoint with a fresh nonce (as the suite does), to the first page or the answer. */
async function authorize(params: Record<string, string> = {}, agent = new Agent(REDIRECT_URI), config = rp) {
  const nonce = client.randomNonce();
  const authorization = await authorizationRequest(config, { nonce, ...params });
  const page = await start(agent, authorization);
  return { agent, authorization, nonce, page, config };
}

/** An authorization through to the client's redirect URI: the password when the page asks for it. */
async function signIn(params: Record<string, string> = {}, agent = new Agent(REDIRECT_URI), config = rp) {
  const flow = await authorize(params, agent, config);
  const callback = flow.page.location ? flow.page : await agent.follow(await submitLogin(agent, flow.page, EMAIL, PASSWORD));
  return { ...flow, callback };
}

/** The code exchanged and the ID token validated: signature, iss, aud, exp, iat, nonce. */
function tokensFor(flow: Flow & { callback: Page }) {
  return client.authorizationCodeGrant(flow.config, new URL(flow.callback.location!), {
    pkceCodeVerifier: flow.authorization.verifier,
    expectedState: flow.authorization.state,
    expectedNonce: flow.nonce,
  });
}

const answer = (page: Page) => new URL(page.location!).searchParams;
const isLoginPage = (page: Page) => page.status === 200 && page.html.includes('name="password"');

/** An error the authorization endpoint redirected back with (OIDC Core §3.1.2.6): state and iss kept, no code. */
function expectRedirectedError(page: Page, error: string, state: string | null) {
  expect(page.location).toMatch(new RegExp(`^${REDIRECT_URI}\\?`));
  const params = answer(page);
  expect(params.get('error')).toBe(error);
  expect(params.get('state')).toBe(state);
  expect(params.get('iss')).toBe(world.issuer);
  expect(params.has('code')).toBe(false);
}

async function userinfo(init: RequestInit) {
  const response = await fetch(`${world.issuer}/me`, init);
  return { status: response.status, type: response.headers.get('content-type'), body: (await response.json()) as Record<string, unknown> };
}

test('oidcc-server: code flow with nonce and state; the ID token, token response and userinfo are what the suite checks', async () => {
  const flow = await signIn();
  expect(answer(flow.callback).get('state')).toBe(flow.authorization.state);
  expect(answer(flow.callback).get('iss')).toBe(world.issuer); // RFC 9207
  const tokens = await tokensFor(flow);
  expect(lastTokenResponse!.status).toBe(200);
  expect(lastTokenResponse!.headers.get('cache-control')).toBe('no-store');
  expect(tokens.token_type).toBe('bearer');
  expect(tokens.expires_in).toBeGreaterThan(0);
  const claims = tokens.claims()!;
  const now = Math.floor(Date.now() / 1000);
  expect(claims).toMatchObject({ iss: world.issuer, aud: world.credentials.clientId, nonce: flow.nonce, sub: expect.any(String) });
  expect(claims.exp).toBeGreaterThan(now);
  expect(claims.iat).toBeLessThanOrEqual(now + 1);
  expect(await client.fetchUserInfo(rp, tokens.access_token, claims.sub)).toMatchObject({ sub: claims.sub });
});

test('oidcc-response-type-missing: redirected back with invalid_request', async () => {
  const url = new URL((await authorizationRequest(rp)).url);
  const state = url.searchParams.get('state');
  url.searchParams.delete('response_type');
  const agent = new Agent(REDIRECT_URI);
  expectRedirectedError(await agent.follow(await agent.get(url.toString())), 'invalid_request', state);
});

test('oidcc-idtoken-signature: RS256 by default, with the kid of a key the JWKS publishes', async () => {
  const tokens = await tokensFor(await signIn());
  const header = decodeProtectedHeader(tokens.id_token!);
  expect(header.alg).toBe('RS256');
  expect(await publishedKids(world.issuer)).toContain(header.kid);
  await jwtVerify(tokens.id_token!, createRemoteJWKSet(new URL(`${world.issuer}/jwks`)), { algorithms: ['RS256'] });
});

test('oidcc-idtoken-unsigned: discovery offers RS256 only, so the suite skips the module', async () => {
  expect((await discovery(world.issuer)).id_token_signing_alg_values_supported).toEqual(['RS256']);
});

test('oidcc-userinfo-post-header: POST with the access token in the Authorization header', async () => {
  const tokens = await tokensFor(await signIn());
  const answered = await userinfo({ method: 'POST', headers: { authorization: `Bearer ${tokens.access_token}` } });
  expect(answered.status).toBe(200);
  expect(answered.type).toMatch(/^application\/json/);
  expect(answered.body.sub).toBe(tokens.claims()!.sub);
});

test('oidcc-userinfo-post-body: POST with the access token in the form body (RFC 6750 §2.2)', async () => {
  const tokens = await tokensFor(await signIn());
  const answered = await userinfo({
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ access_token: tokens.access_token }).toString(),
  });
  expect(answered.status).toBe(200);
  expect(answered.body.sub).toBe(tokens.claims()!.sub);
});

test('oidcc-scope-profile: userinfo gives name, the one profile claim Gatehouse holds', async () => {
  const tokens = await tokensFor(await signIn({ scope: 'openid profile' }));
  const answered = await userinfo({ headers: { authorization: `Bearer ${tokens.access_token}` } });
  expect(answered.body).toEqual({ sub: tokens.claims()!.sub, name: 'Sam Teacher' });
});

test('oidcc-scope-email: userinfo gives email and a boolean email_verified', async () => {
  const tokens = await tokensFor(await signIn({ scope: 'openid email' }));
  const answered = await userinfo({ headers: { authorization: `Bearer ${tokens.access_token}` } });
  expect(answered.body).toEqual({ sub: tokens.claims()!.sub, email: EMAIL, email_verified: true });
});

test('oidcc-scope-address, oidcc-scope-phone, oidcc-scope-all: not offered, so the suite skips them; asking is not an error', async () => {
  const scopes = (await discovery(world.issuer)).scopes_supported as string[];
  expect(scopes).not.toContain('address');
  expect(scopes).not.toContain('phone');
  const tokens = await tokensFor(await signIn({ scope: 'openid address email phone profile' }));
  const answered = await userinfo({ headers: { authorization: `Bearer ${tokens.access_token}` } });
  expect(Object.keys(answered.body).sort()).toEqual(['email', 'email_verified', 'name', 'sub']);
});

test('oidcc-alternate-happy-flow: the scope reversed and the parameters in another order', async () => {
  const authorization = await authorizationRequest(rp, { scope: 'school profile email openid', nonce: 'alternate' });
  const ordered = new URL(authorization.url);
  const reversed = new URL(`${ordered.origin}${ordered.pathname}`);
  for (const [name, value] of [...ordered.searchParams].reverse()) reversed.searchParams.append(name, value);
  const agent = new Agent(REDIRECT_URI);
  const login = await agent.follow(await agent.get(reversed.toString()));
  expect(isLoginPage(login)).toBe(true);
  const callback = await agent.follow(await submitLogin(agent, login, EMAIL, PASSWORD));
  const tokens = await client.authorizationCodeGrant(rp, new URL(callback.location!), {
    pkceCodeVerifier: authorization.verifier,
    expectedState: authorization.state,
    expectedNonce: 'alternate',
  });
  const claims = tokens.claims()!;
  expect(claims).toMatchObject({ email: EMAIL, name: 'Sam Teacher', school_id: world.schoolId });
  // The module is oidcc-scope-email's flow reordered: the suite reads userinfo, which must give the email for the same sub.
  const answered = await userinfo({ headers: { authorization: `Bearer ${tokens.access_token}` } });
  expect(answered.status).toBe(200);
  expect(answered.body).toMatchObject({ sub: claims.sub, email: EMAIL, email_verified: true });
});

test.each(['page', 'popup'])('oidcc-display-%s: the sign-in page is shown, and the sign-in completes', async (display) => {
  const flow = await authorize({ display });
  expect(isLoginPage(flow.page)).toBe(true);
  const callback = await flow.agent.follow(await submitLogin(flow.agent, flow.page, EMAIL, PASSWORD));
  expect((await tokensFor({ ...flow, callback })).claims()!.email).toBe(EMAIL);
});

test('oidcc-prompt-login: signed in already, the password is asked for again, and the same person comes back', async () => {
  const first = await signIn();
  const firstSub = (await tokensFor(first)).claims()!.sub;
  const again = await authorize({ prompt: 'login' }, first.agent);
  expect(isLoginPage(again.page)).toBe(true);
  const callback = await again.agent.follow(await submitLogin(again.agent, again.page, EMAIL, PASSWORD));
  expect((await tokensFor({ ...again, callback })).claims()!.sub).toBe(firstSub);
});

test('oidcc-prompt-none-not-logged-in: login_required, redirected back', async () => {
  const flow = await authorize({ prompt: 'none' });
  expectRedirectedError(flow.page, 'login_required', flow.authorization.state);
});

test('oidcc-prompt-none-logged-in: signed in already, a code with no page, for the same person', async () => {
  const first = await signIn();
  const firstSub = (await tokensFor(first)).claims()!.sub;
  const silent = await authorize({ prompt: 'none' }, first.agent);
  expect(answer(silent.page).get('code')).toEqual(expect.any(String));
  expect((await tokensFor({ ...silent, callback: silent.page })).claims()!.sub).toBe(firstSub);
});

test('oidcc-max-age-1: a second sign-in after more than a second asks for the password, and auth_time says when', async () => {
  const first = await signIn();
  const firstIat = (await tokensFor(first)).claims()!.iat;
  await new Promise((resolve) => setTimeout(resolve, 2_100));
  const again = await authorize({ max_age: '1' }, first.agent);
  expect(isLoginPage(again.page)).toBe(true);
  const callback = await again.agent.follow(await submitLogin(again.agent, again.page, EMAIL, PASSWORD));
  const claims = (await tokensFor({ ...again, callback })).claims()!;
  expect(claims.auth_time).toBeGreaterThanOrEqual(firstIat + 2);
});

test('oidcc-max-age-10000: within max_age no page is shown; auth_time and sub are the first sign-in’s', async () => {
  const first = await signIn({ max_age: '15000' });
  const firstClaims = (await tokensFor(first)).claims()!;
  expect(firstClaims.auth_time).toEqual(expect.any(Number));
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  const again = await authorize({ max_age: '10000' }, first.agent);
  expect(answer(again.page).get('code')).toEqual(expect.any(String));
  const claims = (await tokensFor({ ...again, callback: again.page })).claims()!;
  expect(claims.sub).toBe(firstClaims.sub);
  expect(claims.auth_time).toBe(firstClaims.auth_time);
});

test('oidcc-ensure-request-with-unknown-parameter-succeeds: extra=foobar is ignored (RFC 6749 §3.1)', async () => {
  const flow = await signIn({ extra: 'foobar' });
  expect((await tokensFor(flow)).claims()!.email).toBe(EMAIL);
});

test('oidcc-id-token-hint: prompt=none with the first ID token as id_token_hint answers at once, for the same person', async () => {
  const first = await signIn();
  const firstTokens = await tokensFor(first);
  const silent = await authorize({ prompt: 'none', id_token_hint: firstTokens.id_token! }, first.agent);
  expect(answer(silent.page).get('code')).toEqual(expect.any(String));
  expect((await tokensFor({ ...silent, callback: silent.page })).claims()!.sub).toBe(firstTokens.claims()!.sub);
});

test('oidcc-login-hint: the sign-in page is filled in with the hinted address', async () => {
  const flow = await authorize({ login_hint: EMAIL });
  expect(isLoginPage(flow.page)).toBe(true);
  expect(flow.page.html).toMatch(new RegExp(`name="email"[^>]*value="${EMAIL}"|value="${EMAIL}"[^>]*name="email"`));
  const callback = await flow.agent.follow(await submitLogin(flow.agent, flow.page, EMAIL, PASSWORD));
  expect((await tokensFor({ ...flow, callback })).claims()!.email).toBe(EMAIL);
});

test('oidcc-ui-locales: a language Gatehouse does not speak (the suite’s default, se) is no error: English', async () => {
  const flow = await authorize({ ui_locales: 'se' });
  expect(isLoginPage(flow.page)).toBe(true);
  expect(flow.page.html).toMatch(/<html lang="en"/);
  const callback = await flow.agent.follow(await submitLogin(flow.agent, flow.page, EMAIL, PASSWORD));
  expect(answer(callback).get('code')).toEqual(expect.any(String));
});

test('oidcc-claims-locales: claims_locales=se is no error (Core §5.2)', async () => {
  const flow = await signIn({ claims_locales: 'se' });
  expect((await tokensFor(flow)).claims()!.email).toBe(EMAIL);
});

test('oidcc-ensure-request-with-acr-values-succeeds: every advertised acr value asked for; the acr given is one of them', async () => {
  const advertised = (await discovery(world.issuer)).acr_values_supported as string[];
  const flow = await signIn({ acr_values: advertised.join(' ') });
  expect(advertised).toContain((await tokensFor(flow)).claims()!.acr);
});

test('oidcc-codereuse: a code used twice is invalid_grant the second time, and the access token it gave is revoked at once', async () => {
  const flow = await signIn();
  const tokens = await tokensFor(flow);
  const bearer = { headers: { authorization: `Bearer ${tokens.access_token}` } };
  expect((await userinfo(bearer)).status).toBe(200);
  await expect(tokensFor(flow)).rejects.toMatchObject({ error: 'invalid_grant' });
  expect(lastTokenResponse!.status).toBe(400);
  expect(lastTokenResponse!.headers.get('content-type')).toMatch(/^application\/json/);
  // RFC 6749 §4.1.2: the server SHOULD revoke the tokens issued on that code. (30 seconds later:
  // conformance-codereuse-30s.test.ts.)
  expect((await userinfo(bearer)).status).toBe(401);
});

/** The request in a JWT with alg none, as the suite makes it. */
function unsignedRequestObject(claims: Record<string, unknown>): string {
  return `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`;
}

/** The suite's request object shape: response_type, client_id, scope, redirect_uri outside; state only inside. */
async function requestObjectUrl(parameter: 'request' | 'request_uri', outerRedirectUri = REDIRECT_URI) {
  const authorization = await authorizationRequest(rp);
  const inner = Object.fromEntries(new URL(authorization.url).searchParams);
  const url = new URL(`${world.issuer}/auth`);
  for (const name of ['response_type', 'client_id', 'scope', 'code_challenge', 'code_challenge_method'])
    url.searchParams.set(name, inner[name]!);
  url.searchParams.set('redirect_uri', outerRedirectUri);
  url.searchParams.set(parameter, parameter === 'request' ? unsignedRequestObject(inner) : 'https://rp.example/requests/1.jwt');
  return url.toString();
}

test('oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported: request_uri_not_supported', async () => {
  expect((await discovery(world.issuer)).request_uri_parameter_supported).toBe(false);
  const agent = new Agent(REDIRECT_URI);
  expectRedirectedError(await agent.follow(await agent.get(await requestObjectUrl('request_uri'))), 'request_uri_not_supported', null);
});

test('oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported: request_not_supported', async () => {
  const metadata = await discovery(world.issuer);
  expect(metadata.request_parameter_supported).toBeUndefined(); // RFC 8414 default: false
  expect(metadata.request_object_signing_alg_values_supported).toBeUndefined();
  const agent = new Agent(REDIRECT_URI);
  expectRedirectedError(await agent.follow(await agent.get(await requestObjectUrl('request'))), 'request_not_supported', null);
});

test('oidcc-ensure-request-object-with-redirect-uri: an unregistered redirect_uri beside a request object is an error page, never a redirect', async () => {
  const agent = new Agent(REDIRECT_URI);
  const page = await agent.follow(await agent.get(await requestObjectUrl('request', 'https://elsewhere.example/cb')));
  expect(page.status).toBe(400);
  expect(page.location).toBeNull();
  expect(visibleText(page.html)).toContain('The school system asked us to send you back to an address it has not registered');
});

test('oidcc-refresh-token: refreshed with the scope, a new ID token for the same person; bound to the client it was issued to', async () => {
  const offline = { scope: 'openid offline_access', prompt: 'consent' };
  const first = await tokensFor(await signIn(offline));
  expect(first.refresh_token).toMatch(/^[\x20-\x7e]+$/); // RFC 6749 Appendix A.17
  await new Promise((resolve) => setTimeout(resolve, 1_000)); // as the suite waits, so that iat differs
  const refreshed = await client.refreshTokenGrant(rp, first.refresh_token!, { scope: 'openid offline_access' });
  expect(lastTokenResponse!.status).toBe(200);
  expect(lastTokenResponse!.headers.get('content-type')).toMatch(/^application\/json/);
  expect(lastTokenResponse!.headers.get('cache-control')).toBe('no-store');
  expect(refreshed.token_type).toBe('bearer');
  expect(refreshed.access_token).not.toBe(first.access_token);
  // OIDC Core §12.2: same iss, sub and aud, a new iat; no azp in either.
  const [before, after] = [first.claims()!, refreshed.claims()!];
  expect(after).toMatchObject({ iss: before.iss, sub: before.sub, aud: before.aud });
  expect(after.iat).toBeGreaterThan(before.iat);
  expect(before).not.toHaveProperty('azp');
  expect(after).not.toHaveProperty('azp');

  // The suite's second client: its refresh token is refused to the first (400 invalid_grant).
  const second = await addClient(world.services, 'Hill Library', [world.schoolId]);
  const secondRp = await relyingParty(world.issuer, second);
  checksSignaturesAndRecords(secondRp);
  const secondTokens = await tokensFor(await signIn(offline, new Agent(REDIRECT_URI), secondRp));
  await expect(client.refreshTokenGrant(rp, secondTokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  expect(lastTokenResponse!.status).toBe(400);
  expect(decodeJwt(secondTokens.id_token!).aud).toBe(second.clientId);
});

test('the published suite’s requests carry no PKCE: Gatehouse answers invalid_request, nonce or not, signed in or not', async () => {
  // What AbstractOIDCCServerTest sends: client_id, redirect_uri, scope, state, nonce, response_type; no code_challenge.
  const asTheSuiteSends = (params: Record<string, string> = {}) => {
    const url = new URL(`${world.issuer}/auth`);
    const fields = {
      client_id: world.credentials.clientId,
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      state: 'suite',
      nonce: 'n',
      response_type: 'code',
    };
    for (const [name, value] of Object.entries({ ...fields, ...params })) url.searchParams.set(name, value);
    return url.toString();
  };
  const signedIn = (await signIn()).agent;
  for (const [agent, params] of [
    [new Agent(REDIRECT_URI), {}],
    [signedIn, {}],
    // oidcc-prompt-none-not-logged-in expects login_required: it gets invalid_request first.
    [new Agent(REDIRECT_URI), { prompt: 'none' }],
  ] as const) {
    const page = await agent.follow(await agent.get(asTheSuiteSends(params)));
    expectRedirectedError(page, 'invalid_request', 'suite');
    expect(answer(page).get('error_description')).toMatch(/PKCE/);
  }
});

test('oidcc-server-client-secret-post run with the client_secret_basic client: the secret in the body is accepted too', async () => {
  // oidc-provider takes a client's secret from the header or the body, whichever it registered.
  const post = new client.Configuration(
    rp.serverMetadata(),
    world.credentials.clientId,
    { token_endpoint_auth_method: 'client_secret_post' },
    client.ClientSecretPost(world.credentials.clientSecret),
  );
  client.allowInsecureRequests(post);
  checksSignaturesAndRecords(post);
  const flow = await signIn({}, new Agent(REDIRECT_URI), post);
  const tokens = await tokensFor(flow);
  expect(tokens.claims()!.email).toBe(EMAIL);
  expect((await world.services.repositories.clients.find(world.credentials.clientId))!.tokenEndpointAuthMethod).toBe('client_secret_basic');
});
