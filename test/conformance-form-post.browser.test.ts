import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import { logIn } from './support/browser.ts';
import { useGatehouse } from './support/fixture.ts';
import { addClient, authorizationRequest, relyingParty, staff } from './support/scenario.ts';

/**
 * The Form Post OP plan (oidcc-formpost-basic-certification-test-plan) is the Basic plan with
 * response_mode=form_post, which Gatehouse offers (discovery's response_modes_supported). In real
 * Chromium, under Gatehouse's Content-Security-Policy (no inline script but the form's own, by
 * hash), the answer reaches the school system as a POST of the form, never in the URL: a code
 * (`oidcc-server`) and an error (`oidcc-prompt-none-not-logged-in`) alike.
 */
const world = useGatehouse({ client: false, browser: true });
const EMAIL = 'formpost@hill.example';

type Arrival = { method: string; url: string; type: string | undefined; body: string };
let arrivals: Arrival[] = [];
let callback: { uri: string; close: () => Promise<void> };
let rp: client.Configuration;

beforeAll(async () => {
  // The school system, on another site (127.0.0.1; Gatehouse is on localhost): records what arrives.
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      if (req.url === '/favicon.ico') return void res.writeHead(404).end();
      arrivals.push({ method: req.method!, url: req.url!, type: req.headers['content-type'], body });
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>School system</title><h1 id="arrived">Arrived</h1>');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`;
  callback = { uri, close: () => new Promise((resolve) => server.close(() => resolve())) };
  const credentials = await addClient(world.services, 'Hill MIS', [world.schoolId], { redirectUris: [uri] });
  rp = await relyingParty(world.issuer, credentials);
  client.enableNonRepudiationChecks(rp);
  await staff(world, EMAIL, 'basic');
});

afterAll(() => callback?.close());
beforeEach(() => {
  arrivals = [];
});

/** The one request the school system received: a form POST to the bare redirect URI. */
function postedAnswer(): URLSearchParams {
  expect(arrivals).toHaveLength(1);
  const [arrival] = arrivals;
  expect(arrival).toMatchObject({ method: 'POST', url: '/callback', type: 'application/x-www-form-urlencoded' });
  return new URLSearchParams(arrival!.body);
}

test('discovery offers form_post', async () => {
  expect(rp.serverMetadata().response_modes_supported).toContain('form_post');
});

test('oidcc-server with response_mode=form_post: the code arrives by POST, and is exchanged for a valid ID token', async () => {
  const context = await world.browser.newContext();
  try {
    const page = await context.newPage();
    const nonce = client.randomNonce();
    const authorization = await authorizationRequest(rp, { redirect_uri: callback.uri, response_mode: 'form_post', nonce });
    await page.goto(authorization.url);
    await logIn(page, EMAIL);
    await page.locator('#arrived').waitFor();
    const answer = postedAnswer();
    expect([...answer.keys()].sort()).toEqual(['code', 'iss', 'state']);
    expect(answer.get('state')).toBe(authorization.state);
    expect(answer.get('iss')).toBe(world.issuer);

    // openid-client takes the POST it would have received.
    const received = new Request(callback.uri, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: answer.toString(),
    });
    const tokens = await client.authorizationCodeGrant(rp, received, {
      pkceCodeVerifier: authorization.verifier,
      expectedState: authorization.state,
      expectedNonce: nonce,
    });
    expect(tokens.claims()).toMatchObject({ iss: world.issuer, email: EMAIL, nonce });
  } finally {
    await context.close();
  }
});

test('oidcc-prompt-none-not-logged-in with response_mode=form_post: the error arrives by POST, with the state', async () => {
  const context = await world.browser.newContext();
  try {
    const page = await context.newPage();
    const authorization = await authorizationRequest(rp, { redirect_uri: callback.uri, response_mode: 'form_post', prompt: 'none' });
    await page.goto(authorization.url);
    await page.locator('#arrived').waitFor();
    const answer = postedAnswer();
    expect(answer.get('error')).toBe('login_required');
    expect(answer.get('state')).toBe(authorization.state);
    expect(answer.get('iss')).toBe(world.issuer);
    expect(answer.has('code')).toBe(false);
  } finally {
    await context.close();
  }
});
