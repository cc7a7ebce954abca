import { createTestStorage, type TestStorage } from './support/database.ts';
import { freePort, startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { spawnGatehouse } from './support/process.ts';
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
  'pushed authorization request': { path: '/request', params: { response_type: 'code', scope: 'openid', redirect_uri: 'http://localhost:65010/callback' } },
} as const;

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

async function post(base: string, path: string, form: Record<string, string>, headers: Record<string, string> = {}) {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  const text = await response.text();
  return { status: response.status, wwwAuthenticate: response.headers.get('www-authenticate'), type: response.headers.get('content-type'), text };
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
      ['a wrong secret in the Authorization header', () => ({ form: { ...params }, headers: { authorization: basic(credentials.clientId, 'wrong') } })],
      ['a wrong secret in the body', () => ({ form: { ...params, client_id: credentials.clientId, client_secret: 'wrong' } })],
      ['an unknown client', () => ({ form: { ...params }, headers: { authorization: basic('gh_unknown', 'secret') } })],
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

  test('a malformed request from an authenticated client is still invalid_request, not invalid_client', async () => {
    const response = await post(base(), '/token/introspection', {}, { authorization: basic(credentials.clientId, credentials.clientSecret) });
    expect(response.status).toBe(400);
    expect(JSON.parse(response.text)).toMatchObject({ error: 'invalid_request' });
    expect(response.wwwAuthenticate).toBeNull();
  });
});
