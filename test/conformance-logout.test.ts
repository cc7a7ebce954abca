import { generateKeyPair, SignJWT } from 'jose';
import * as client from 'openid-client';
import { formAction, formField, type Page, visibleText } from './support/agent.ts';
import { useGatehouse } from './support/fixture.ts';
import { browserAgent } from './support/oidc.ts';
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
 * The OpenID Foundation's RP-Initiated Logout OP plan (oidcc-rp-initiated-logout-certification-test-plan),
 * one test per module. Each signs in first (a 128-character state, as the suite sends), then sends
 * the browser to the end_session_endpoint. Where the module expects "an error screen or a
 * confirmation", Gatehouse's choice is what is asserted; a redirect to the school system is
 * only ever allowed for a registered post_logout_redirect_uri with a valid id_token_hint.
 */
const world = useGatehouse({ client: false });
const EMAIL = 'logout@hill.example';
const SIGNED_OUT = 'http://localhost:65010/post_logout_redirect';
let rp: client.Configuration;

beforeAll(async () => {
  await staff(world, EMAIL, 'basic');
  const credentials = await addClient(world.services, 'Hill MIS', [world.schoolId], { postLogoutRedirectUris: [SIGNED_OUT] });
  rp = await relyingParty(world.issuer, credentials);
});

/** A browser signed in at the school system: its Agent and the ID token the school system holds. */
async function signedIn() {
  // What a browser sends: error pages are pages, not JSON.
  const agent = browserAgent(REDIRECT_URI);
  const state = client.randomState().repeat(3).slice(0, 128);
  const authorization = await authorizationRequest(rp, { state });
  const callback = await agent.follow(await submitLogin(agent, await start(agent, authorization), EMAIL, PASSWORD));
  const tokens = await client.authorizationCodeGrant(rp, new URL(callback.location!), {
    pkceCodeVerifier: authorization.verifier,
    expectedState: state,
  });
  return { agent, idToken: tokens.id_token! };
}

/** The browser sent to the end_session_endpoint with these parameters: the page it lands on (never following a redirect away). */
async function endSession(agent: Agent, params: Record<string, string>): Promise<Page> {
  const url = new URL(`${world.issuer}/session/end`);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return agent.follow(await agent.get(url.toString()));
}

/** "Log out of Gatehouse" on the confirmation page: where the browser is sent. */
async function confirm(agent: Agent, page: Page): Promise<Page> {
  expect(visibleText(page.html)).toContain('Do you want to log out of Gatehouse');
  const done = await agent.post(new URL(formAction(page.html), page.url).toString(), { xsrf: formField(page.html, 'xsrf'), logout: 'yes' });
  return new Agent('http://localhost:65010/').follow(done);
}

/** After a logout, prompt=none must come back with an error that needs the person (the session is over). */
async function expectLoggedOut(agent: Agent) {
  const silent = await start(agent, await authorizationRequest(rp, { prompt: 'none' }));
  expect(new URL(silent.location!).searchParams.get('error')).toBe('login_required');
}

/** After a refusal, the session is untouched: prompt=none still signs in. */
async function expectStillSignedIn(agent: Agent) {
  const silent = await start(agent, await authorizationRequest(rp, { prompt: 'none' }));
  expect(new URL(silent.location!).searchParams.get('code')).toEqual(expect.any(String));
}

function expectErrorPage(page: Page) {
  expect(page.status).toBe(400);
  expect(page.location).toBeNull();
  expect(page.html).toMatch(/^<!DOCTYPE html>/i);
}

test('oidcc-rp-initiated-logout: confirmed, back at the post_logout_redirect_uri with the state only; prompt=none then fails', async () => {
  const { agent, idToken } = await signedIn();
  const state = client.randomState();
  const page = await endSession(agent, { id_token_hint: idToken, post_logout_redirect_uri: SIGNED_OUT, state });
  const back = await confirm(agent, page);
  expect(back.location).toBe(`${SIGNED_OUT}?state=${state}`);
  await expectLoggedOut(agent);
});

test('oidcc-rp-initiated-logout-bad-post-logout-redirect-uri: an unregistered address is an error page, no redirect', async () => {
  const { agent, idToken } = await signedIn();
  const page = await endSession(agent, {
    id_token_hint: idToken,
    post_logout_redirect_uri: 'http://localhost:65010/elsewhere',
    state: 's',
  });
  expectErrorPage(page);
  expect(visibleText(page.html)).toContain('post_logout_redirect_uri not registered');
  await expectStillSignedIn(agent);
});

test('oidcc-rp-initiated-logout-modified-id-token-hint: the hint turned to alg none is an error page, no redirect', async () => {
  const { agent, idToken } = await signedIn();
  const [, payload] = idToken.split('.');
  const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload}.`;
  const page = await endSession(agent, { id_token_hint: unsigned, post_logout_redirect_uri: SIGNED_OUT, state: 's' });
  expectErrorPage(page);
  expect(visibleText(page.html)).toContain('id_token_hint');
  await expectStillSignedIn(agent);
});

test('oidcc-rp-initiated-logout-bad-id-token-hint: a hint signed by someone else is an error page, no redirect', async () => {
  const { agent, idToken } = await signedIn();
  const claims = JSON.parse(Buffer.from(idToken.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
  const { privateKey } = await generateKeyPair('RS256');
  const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'suite-key' }).sign(privateKey);
  const page = await endSession(agent, { id_token_hint: forged, post_logout_redirect_uri: SIGNED_OUT, state: 's' });
  expectErrorPage(page);
  expect(visibleText(page.html)).toContain('id_token_hint');
  await expectStillSignedIn(agent);
});

test('oidcc-rp-initiated-logout-no-id-token-hint: asked to confirm, then logged out without going to the unverified address', async () => {
  const { agent } = await signedIn();
  const page = await endSession(agent, { post_logout_redirect_uri: SIGNED_OUT, state: 's' });
  const after = await confirm(agent, page);
  expect(after.location).toBeNull();
  expect(visibleText(after.html)).toContain('You have logged out');
  await expectLoggedOut(agent);
});

test('oidcc-rp-initiated-logout-no-params: asked to confirm, then the logged-out page', async () => {
  const { agent } = await signedIn();
  const after = await confirm(agent, await endSession(agent, {}));
  expect(after.location).toBeNull();
  expect(visibleText(after.html)).toContain('You have logged out');
  await expectLoggedOut(agent);
});

test('oidcc-rp-initiated-logout-no-post-logout-redirect-uri: the hint alone: confirmed, then the logged-out page', async () => {
  const { agent, idToken } = await signedIn();
  const after = await confirm(agent, await endSession(agent, { id_token_hint: idToken }));
  expect(after.location).toBeNull();
  expect(visibleText(after.html)).toContain('You have logged out');
  await expectLoggedOut(agent);
});

test('oidcc-rp-initiated-logout-no-state: back at the post_logout_redirect_uri with nothing added', async () => {
  const { agent, idToken } = await signedIn();
  const back = await confirm(agent, await endSession(agent, { id_token_hint: idToken, post_logout_redirect_uri: SIGNED_OUT }));
  expect(back.location).toBe(SIGNED_OUT);
  await expectLoggedOut(agent);
});

test('oidcc-rp-initiated-logout-only-state: asked to confirm, then the logged-out page (no address to return to)', async () => {
  const { agent } = await signedIn();
  const after = await confirm(agent, await endSession(agent, { state: 'only-state' }));
  expect(after.location).toBeNull();
  expect(visibleText(after.html)).toContain('You have logged out');
  await expectLoggedOut(agent);
});

test('oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri: ?foo=bar added is an unregistered address: error page', async () => {
  const { agent, idToken } = await signedIn();
  const page = await endSession(agent, { id_token_hint: idToken, post_logout_redirect_uri: `${SIGNED_OUT}?foo=bar`, state: 's' });
  expectErrorPage(page);
  expect(visibleText(page.html)).toContain('post_logout_redirect_uri not registered');
  await expectStillSignedIn(agent);
});
