import zlib from 'node:zlib';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { Agent, formField, visibleText } from './support/agent.ts';
import { REDIRECT_URI } from './support/scenario.ts';

/** Hostile or broken input answers 4xx with words (or an OAuth error), never 500. */
let storage: TestStorage;
let gatehouse: TestGatehouse;

beforeAll(async () => {
  storage = await createTestStorage();
  gatehouse = await startTestGatehouse(storage);
});

afterAll(async () => {
  await gatehouse?.close();
  await storage?.drop();
});

test('/account/callback with a state of the same length in characters but not in bytes: 400, not 500', async () => {
  const agent = new Agent('http://localhost:1/');
  const toSignIn = await agent.get(`${gatehouse.issuer}/account/security-keys`);
  const state = new URL(toSignIn.location!).searchParams.get('state')!;
  expect(state).toMatch(/^[A-Za-z0-9_-]{32}$/);
  for (const forged of [`é${state.slice(1)}`, `${state.slice(0, -2)}\u{1F600}`, 'x'.repeat(state.length - 1)]) {
    const cookies = new Map(agent.cookies);
    const answer = await agent.get(`${gatehouse.issuer}/account/callback?state=${encodeURIComponent(forged)}`);
    expect([forged, answer.status]).toEqual([forged, 400]);
    expect(visibleText(answer.html)).toContain('This sign-in has expired');
    for (const [name, value] of cookies) agent.cookies.set(name, value);
  }
});

test('a hosted form with a compressed body (malformed or not): 415 with words, and nothing sent', async () => {
  const agent = new Agent('http://localhost:1/');
  const page = await agent.get(`${gatehouse.issuer}/password/forgot`);
  const form = new URLSearchParams({ _csrf: formField(page.html, '_csrf'), email: 'nobody@hill.example' }).toString();
  const cookie = [...agent.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  const bodies: Array<[string, Buffer]> = [
    ['gzip', Buffer.from('not gzip at all')],
    ['br', Buffer.from('not brotli at all')],
    ['deflate', Buffer.from('not deflate at all')],
    ['gzip', zlib.gzipSync(form).subarray(0, 12)],
    ['gzip', zlib.gzipSync(form)],
  ];
  for (const [encoding, body] of bodies) {
    const response = await fetch(`${gatehouse.issuer}/password/forgot`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-encoding': encoding, cookie },
      body,
    });
    expect([encoding, response.status]).toEqual([encoding, 415]);
    const text = visibleText(await response.text());
    expect(text).toContain('We could not read that request');
    expect(text).toContain('uncompressed');
  }
  // The provider's own endpoints refuse them as OAuth errors (here: no client authentication
  // could be read from the body, so RFC 6749 §5.2's 401 invalid_client).
  const token = await fetch(`${gatehouse.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-encoding': 'gzip' },
    body: Buffer.from('not gzip'),
  });
  expect(token.status).toBe(401);
  expect(await token.json()).toMatchObject({ error: 'invalid_client' });
});

test('POST /reg (and updates) with lone surrogates in any string: 400 invalid_client_metadata, nothing stored', async () => {
  const { provider } = await gatehouse.services.oidc();
  const iat = await new provider.InitialAccessToken({ expiresIn: 600, policies: ['school-system'] }).save();
  const send = (method: string, url: string, token: string, body: string) =>
    fetch(url, { method, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body });
  const clients = async () =>
    Number((await gatehouse.database.dataSource.query(`SELECT count(*) AS n FROM oidc_payloads WHERE model = 'Client'`))[0].n);
  const before = await clients();
  const valid = { client_name: 'Oak Library', redirect_uris: [REDIRECT_URI] };
  // JSON.stringify writes a lone surrogate as the escape \ud800, as a hostile client would.
  for (const hostile of [
    { ...valid, client_name: '\ud800' },
    { ...valid, client_name: 'Oak \udc00 Library' },
    { ...valid, redirect_uris: ['https://library.oak.example/cb\ud800'] },
    { ...valid, client_uri: 'https://oak.example/\ud83d' },
    { ...valid, contacts: ['it\udfff@oak.example'] },
    { ...valid, post_logout_redirect_uris: ['https://library.oak.example/out\ud800'] },
  ]) {
    const body = JSON.stringify(hostile);
    expect(body).toMatch(/\\ud[89a-f]/);
    const refused = await send('POST', `${gatehouse.issuer}/reg`, iat, body);
    expect([body, refused.status]).toEqual([body, 400]);
    // RFC 7591 §3.2.2: a bad redirect URI is invalid_redirect_uri, anything else invalid_client_metadata.
    const expected =
      'redirect_uris' in hostile && hostile.redirect_uris !== valid.redirect_uris ? 'invalid_redirect_uri' : 'invalid_client_metadata';
    expect([body, ((await refused.json()) as { error: string }).error]).toEqual([body, expected]);
  }
  expect(await clients()).toBe(before);

  const created = (await (await send('POST', `${gatehouse.issuer}/reg`, iat, JSON.stringify(valid))).json()) as Record<string, string>;
  const update = await send(
    'PUT',
    created.registration_client_uri!,
    created.registration_access_token!,
    JSON.stringify({ ...valid, client_id: created.client_id, client_secret: created.client_secret, client_name: 'Oak \ud800' }),
  );
  expect(update.status).toBe(400);
  expect(((await update.json()) as { error: string }).error).toBe('invalid_client_metadata');
  const stored = await gatehouse.database.dataSource.query(
    `SELECT payload->>'client_name' AS name FROM oidc_payloads WHERE model = 'Client' AND id = $1`,
    [created.client_id],
  );
  expect(stored).toEqual([{ name: 'Oak Library' }]);
});

test('POST /reg (and updates) with values of the wrong type, or a sector_identifier_uri: 400 invalid_client_metadata, nothing stored', async () => {
  const { provider } = await gatehouse.services.oidc();
  const iat = await new provider.InitialAccessToken({ expiresIn: 600, policies: ['school-system'] }).save();
  const send = (method: string, url: string, token: string, body: unknown) =>
    fetch(url, { method, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
  const clients = async () =>
    Number((await gatehouse.database.dataSource.query(`SELECT count(*) AS n FROM oidc_payloads WHERE model = 'Client'`))[0].n);
  const before = await clients();
  const valid = { client_name: 'Oak Library', redirect_uris: [REDIRECT_URI] };
  // An object whose toString is not a function makes String() throw: it must never get that far.
  const trap = { toString: 0 };
  for (const hostile of [
    { ...valid, grant_types: [trap] },
    { ...valid, response_types: [trap] },
    { ...valid, token_endpoint_auth_method: trap },
    { ...valid, jwks_uri: trap },
    { ...valid, redirect_uris: [trap] },
    { ...valid, post_logout_redirect_uris: [42] },
    { ...valid, backchannel_logout_uri: { href: 'https://x.example' } },
    { ...valid, sector_identifier_uri: 'https://oak.example/sector.json' },
  ]) {
    const refused = await send('POST', `${gatehouse.issuer}/reg`, iat, hostile);
    const body = JSON.stringify(hostile);
    expect([body, refused.status]).toEqual([body, 400]);
    expect([body, ((await refused.json()) as { error: string }).error]).toEqual([
      body,
      expect.stringMatching(/^invalid_(client_metadata|redirect_uri)$/),
    ]);
  }
  expect(await clients()).toBe(before);

  const created = (await (await send('POST', `${gatehouse.issuer}/reg`, iat, valid)).json()) as Record<string, string>;
  const update = await send('PUT', created.registration_client_uri!, created.registration_access_token!, {
    ...valid,
    client_id: created.client_id,
    client_secret: created.client_secret,
    grant_types: [trap],
  });
  expect(update.status).toBe(400);
  expect(((await update.json()) as { error: string }).error).toBe('invalid_client_metadata');
});
