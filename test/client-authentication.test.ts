import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CLIENT_AUTHENTICATION_FAILURES, MALFORMED_CLIENT_AUTHENTICATION } from '../src/oidc/client-authentication.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { freePort, startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { ROOT, spawnGatehouse } from './support/process.ts';
import { addClient, addSchool } from './support/scenario.ts';

/** RFC 6749 §5.2: a client that did not, or could not, authenticate gets 401 invalid_client. */
let storage: TestStorage;
let inProcess: TestGatehouse;
let spawned: Awaited<ReturnType<typeof spawnGatehouse>>;
let credentials: { clientId: string; clientSecret: string };

beforeAll(async () => {
  storage = await createTestStorage();
  inProcess = await startTestGatehouse(storage);
  // The same configuration as its own OS process, where no Jest VM module changes the provider.
  spawned = await spawnGatehouse(storage, await freePort(), { ISSUER: inProcess.issuer });
  const school = await addSchool(inProcess.services, 'Hill Primary School');
  credentials = await addClient(inProcess.services, 'Hill MIS', [school.id]);
});

afterAll(async () => {
  await spawned?.stop();
  await inProcess?.close();
  await storage?.drop();
});

const ENDPOINTS = {
  token: { path: '/token', params: { grant_type: 'authorization_code', code: 'x', redirect_uri: 'http://localhost:65010/callback' } },
  introspection: { path: '/token/introspection', params: { token: 'x' } },
  revocation: { path: '/token/revocation', params: { token: 'x' } },
  'pushed authorization request': {
    path: '/request',
    params: { response_type: 'code', scope: 'openid', redirect_uri: 'http://localhost:65010/callback' },
  },
} as const;

const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** An unsigned JWT naming `sub`: readable, so the provider goes on to the assertion's type and the client's method. */
const assertion = (sub: string) =>
  `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub })).toString('base64url')}.`;

async function post(base: string, path: string, form: Record<string, string> | string, headers: Record<string, string> = {}) {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: typeof form === 'string' ? form : new URLSearchParams(form).toString(),
  });
  const text = await response.text();
  return {
    status: response.status,
    wwwAuthenticate: response.headers.get('www-authenticate'),
    type: response.headers.get('content-type'),
    text,
  };
}

describe.each([
  ['in-process', () => inProcess.url],
  ['spawned server', () => spawned.url],
])('%s', (_name, base) => {
  describe.each(Object.entries(ENDPOINTS))('%s', (_endpoint, { path, params }) => {
    const cases: Array<[string, () => { form: Record<string, string>; headers?: Record<string, string> }]> = [
      ['no client authentication at all', () => ({ form: { ...params } })],
      ['no client authentication, asking for HTML', () => ({ form: { ...params }, headers: { accept: 'text/html' } })],
      ['a client id with no secret', () => ({ form: { ...params, client_id: credentials.clientId } })],
      [
        'a wrong secret in the Authorization header',
        () => ({ form: { ...params }, headers: { authorization: basic(credentials.clientId, 'wrong') } }),
      ],
      ['a wrong secret in the body', () => ({ form: { ...params, client_id: credentials.clientId, client_secret: 'wrong' } })],
      ['an unknown client', () => ({ form: { ...params }, headers: { authorization: basic('gh_unknown', 'secret') } })],
      ['a Bearer Authorization header', () => ({ form: { ...params }, headers: { authorization: 'Bearer x' } })],
      ['Basic with no value', () => ({ form: { ...params }, headers: { authorization: 'Basic' } })],
      ['Basic with an empty value', () => ({ form: { ...params }, headers: { authorization: 'Basic ' } })],
      ['Basic with an empty secret', () => ({ form: { ...params }, headers: { authorization: basic(credentials.clientId, '') } })],
      [
        'Basic without a colon',
        () => ({ form: { ...params }, headers: { authorization: `Basic ${Buffer.from(credentials.clientId).toString('base64')}` } }),
      ],
      ['Basic that is not base64', () => ({ form: { ...params }, headers: { authorization: 'Basic !!!' } })],
      [
        'Basic with a badly encoded id',
        () => ({ form: { ...params }, headers: { authorization: `Basic ${Buffer.from('%zz:secret').toString('base64')}` } }),
      ],
      [
        'Basic naming another client than client_id',
        () => ({
          form: { ...params, client_id: 'gh_other' },
          headers: { authorization: basic(credentials.clientId, credentials.clientSecret) },
        }),
      ],
      ['an unreadable client_assertion (RFC 7523 §3.2)', () => ({ form: { ...params, client_assertion: 'abc' } })],
      ['a client_assertion without its type', () => ({ form: { ...params, client_assertion: assertion(credentials.clientId) } })],
      [
        'a client_assertion of another type',
        () => ({ form: { ...params, client_assertion: assertion(credentials.clientId), client_assertion_type: 'urn:x' } }),
      ],
      [
        'a client_assertion for a client_secret_basic client',
        () => ({
          form: {
            ...params,
            client_assertion: assertion(credentials.clientId),
            client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          },
        }),
      ],
      ['an unreadable client attestation', () => ({ form: { ...params }, headers: { 'oauth-client-attestation': 'abc' } })],
    ];
    test.each(cases)('%s answers 401 invalid_client with WWW-Authenticate: Basic', async (_case, request) => {
      const { form, headers } = request();
      const response = await post(base(), path, form, headers);
      expect(response.status).toBe(401);
      expect(response.type).toMatch(/^application\/json/);
      expect(JSON.parse(response.text)).toMatchObject({ error: 'invalid_client' });
      expect(response.wwwAuthenticate).toMatch(new RegExp(`^Basic realm="${inProcess.issuer}"`));
    });
  });

  test.each([
    [
      'two mechanisms at once (RFC 6749 §5.2 names this invalid_request)',
      () => ({
        form: { ...ENDPOINTS.token.params, client_secret: 'x' },
        headers: { authorization: basic(credentials.clientId, credentials.clientSecret) },
      }),
    ],
    [
      'a duplicated client_id',
      () => ({
        form: 'client_id=a&client_id=b&token=x',
        headers: { authorization: basic(credentials.clientId, credentials.clientSecret) },
      }),
    ],
    [
      'no grant_type from an authenticated client',
      () => ({ form: { code: 'x' }, headers: { authorization: basic(credentials.clientId, credentials.clientSecret) } }),
    ],
  ] as Array<[string, () => { form: Record<string, string> | string; headers: Record<string, string> }]>)(
    '%s stays 400 invalid_request',
    async (_case, request) => {
      const { form, headers } = request();
      const response = await post(base(), '/token', form, headers);
      expect(response.status).toBe(400);
      expect(JSON.parse(response.text)).toMatchObject({ error: 'invalid_request' });
    },
  );

  test('a malformed request from an authenticated client is still invalid_request, not invalid_client', async () => {
    const response = await post(
      base(),
      '/token/introspection',
      {},
      { authorization: basic(credentials.clientId, credentials.clientSecret) },
    );
    expect(response.status).toBe(400);
    expect(JSON.parse(response.text)).toMatchObject({ error: 'invalid_request' });
    expect(response.wwwAuthenticate).toBeNull();
  });
});

test('every invalid_request oidc-provider raises while authenticating a client is classified here', () => {
  // The rule matches the library's own words: a new failure path in an upgrade must not slip through as 400.
  const source = readFileSync(path.join(ROOT, 'node_modules/oidc-provider/lib/shared/client_auth.js'), 'utf8');
  const assertionType = /const assertionType = '([^']+)'/.exec(source)![1]!;
  const raised = [...source.matchAll(/new InvalidRequest\(\s*(['`])(.*?)\1/gs)].map((match) =>
    match[2]!.replace('${assertionType}', assertionType),
  );
  expect(raised.length).toBeGreaterThan(5);
  const classified = new Set([...CLIENT_AUTHENTICATION_FAILURES, ...MALFORMED_CLIENT_AUTHENTICATION]);
  expect(raised.filter((message) => !classified.has(message))).toEqual([]);
  expect(new Set(raised)).toEqual(classified);
});
