import { createTestStorage, type TestStorage } from './support/database.ts';
import { freePort, startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { spawnGatehouse } from './support/process.ts';
import { RawAgent, rawRequest } from './support/raw-http.ts';
import { formAction, formField } from './support/agent.ts';
import {
  addClient,
  addSchool,
  addStaff,
  authorizationRequest,
  PASSWORD,
  REDIRECT_URI,
  relyingParty,
  start,
  submitLogin,
} from './support/scenario.ts';

/**
 * Absolute URLs come from ISSUER only. Run against spawned processes (as operators run them) with
 * raw http.request: Node's fetch would drop the Host header and the test could not fail.
 */
let storage: TestStorage;
let data: TestGatehouse;
let credentials: { clientId: string; clientSecret: string };

beforeAll(async () => {
  storage = await createTestStorage();
  data = await startTestGatehouse(storage);
  const school = await addSchool(data.services, 'Hill Primary School');
  credentials = await addClient(data.services, 'Hill MIS', [school.id], { postLogoutRedirectUris: ['http://localhost:65010/signed-out'] });
  await addStaff(data.services, 'host@hill.example', [{ schoolId: school.id, accessLevel: 'basic' }]);
}, 60_000);

afterAll(async () => {
  await data?.close();
  await storage?.drop();
});

const hostile: Array<{ name: string; env: Record<string, string>; headers: Record<string, string> }> = [
  { name: 'Host: evil.example', env: {}, headers: { host: 'evil.example' } },
  {
    name: 'X-Forwarded-Host behind TRUST_PROXY',
    env: { TRUST_PROXY: 'true' },
    headers: { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' },
  },
];

test.each(hostile)(
  '$name changes no URL in discovery, the logout form or any Location header',
  async ({ env, headers }) => {
    const port = await freePort();
    const issuer = `http://localhost:${port}`;
    const server = await spawnGatehouse(storage, port, { ISSUER: issuer, ...env });
    try {
      const discovery = await rawRequest(issuer, { path: '/.well-known/openid-configuration', headers });
      expect(discovery.status).toBe(200);
      const metadata = JSON.parse(discovery.body) as Record<string, unknown>;
      const urls = Object.entries(metadata).filter(([, value]) => typeof value === 'string' && /^https?:/.test(value));
      expect(urls.length).toBeGreaterThanOrEqual(9);
      for (const [name, value] of urls) expect([name, value]).toEqual([name, expect.stringMatching(new RegExp(`^${issuer}(/|$)`))]);
      expect(discovery.body).not.toContain('evil.example');

      // A whole sign-in, then logout, with the hostile header on every request.
      const rp = await relyingParty(issuer, credentials);
      const agent = new RawAgent(REDIRECT_URI, headers);
      const login = await start(agent, await authorizationRequest(rp, { scope: 'openid' }));
      expect(formAction(login.html)).not.toContain('evil');
      const back = await agent.follow(await submitLogin(agent, login, 'host@hill.example', PASSWORD));
      expect(back.location).toMatch(/^http:\/\/localhost:65010\/callback\?code=/);
      const logout = await agent.get(`${issuer}/session/end?client_id=${credentials.clientId}`);
      expect(logout.status).toBe(200);
      // The logged-out page that follows keeps the logout page's language (?ui_locales=…).
      expect(formAction(logout.html)).toMatch(new RegExp(`^${issuer}/session/end/confirm(\\?ui_locales=en)?$`));
      const done = await agent.post(formAction(logout.html), { xsrf: formField(logout.html, 'xsrf'), logout: 'yes' });
      expect(done.status).toBe(303);

      expect(agent.locations.length).toBeGreaterThanOrEqual(4);
      for (const location of agent.locations) {
        expect(location).toMatch(new RegExp(`^(/(?!/)|${issuer}/|${REDIRECT_URI}\\?)`));
      }
      expect(agent.locations.join(' ')).not.toContain('evil.example');
    } finally {
      expect(await server.stop()).toBe(0);
    }
  },
  90_000,
);

test('an absolute-form request line does not choose the URLs either', async () => {
  const port = await freePort();
  const issuer = `http://localhost:${port}`;
  const server = await spawnGatehouse(storage, port, { ISSUER: issuer });
  try {
    const discovery = await rawRequest(issuer, { path: 'http://evil.example/.well-known/openid-configuration' });
    expect(discovery.status).toBe(200);
    expect(discovery.body).not.toContain('evil.example');
    expect(JSON.parse(discovery.body).token_endpoint).toBe(`${issuer}/token`);
    const account = await rawRequest(issuer, { path: 'http://evil.example/account/security-keys' });
    expect(account.headers.location).toMatch(new RegExp(`^${issuer}/auth\\?`));
  } finally {
    expect(await server.stop()).toBe(0);
  }
}, 60_000);

test('discovery and the JWKS may be cached briefly by anyone; pages may not', async () => {
  const port = await freePort();
  const issuer = `http://localhost:${port}`;
  const server = await spawnGatehouse(storage, port, { ISSUER: issuer });
  try {
    for (const path of ['/.well-known/openid-configuration', '/jwks']) {
      const response = await rawRequest(issuer, { path });
      expect([path, response.status, response.headers['cache-control']]).toEqual([path, 200, 'public, max-age=300']);
    }
    expect((await rawRequest(issuer, { path: '/password/forgot' })).headers['cache-control']).toBe('no-store');
  } finally {
    expect(await server.stop()).toBe(0);
  }
}, 60_000);
