import Keygrip from 'keygrip';
import pg from 'pg';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { visibleText } from './support/agent.ts';
import { addClient, addSchool, REDIRECT_URI } from './support/scenario.ts';

/**
 * While the database is down, the endpoints say so (503, Retry-After) in their own language: an
 * OAuth error at /token, a page at /auth and on the hosted pages. Never a 500.
 */
let storage: TestStorage;

beforeAll(async () => {
  storage = await createTestStorage();
});

afterAll(async () => {
  await storage?.drop();
});

async function eventually(check: () => Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const readiness = async (gatehouse: TestGatehouse) => (await fetch(`${gatehouse.url}/readyz`)).status;

/** Runs `check` against a Gatehouse whose database has just gone away, then brings it back. */
async function withDatabaseDown(check: (gatehouse: TestGatehouse, client: { clientId: string; clientSecret: string }) => Promise<void>) {
  if (storage.databaseUrl) {
    const gatehouse = await startTestGatehouse(storage);
    const client = await addClient(gatehouse.services, 'Hill MIS', [(await addSchool(gatehouse.services, 'Hill Primary School')).id]);
    const name = new URL(storage.databaseUrl).pathname.slice(1);
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    try {
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [name]);
      await eventually(async () => (await readiness(gatehouse)) === 503);
      await check(gatehouse, client);
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      await eventually(async () => (await readiness(gatehouse)) === 200);
    } finally {
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`).catch(() => undefined);
      await admin.end();
      await gatehouse.close();
    }
  } else {
    // Embedded: a second process served through the first loses the database when the first stops.
    const owner = await startTestGatehouse(storage);
    const client = await addClient(owner.services, 'Hill MIS', [(await addSchool(owner.services, 'Hill Primary School')).id]);
    const guest = await startTestGatehouse(storage, { ISSUER: owner.issuer });
    try {
      await owner.close();
      await eventually(async () => (await readiness(guest)) === 503);
      await check(guest, client);
    } finally {
      await guest.close();
    }
  }
}

test('/auth, /token and a hosted page answer 503 with Retry-After while the database is down', async () => {
  await withDatabaseDown(async (gatehouse, client) => {
    const authorize = new URL(`${gatehouse.url}/auth`);
    authorize.search = new URLSearchParams({
      client_id: client.clientId,
      response_type: 'code',
      scope: 'openid',
      redirect_uri: REDIRECT_URI,
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
      state: 'abc',
    }).toString();
    const page = await fetch(authorize, { redirect: 'manual', headers: { accept: 'text/html' } });
    expect(page.status).toBe(503);
    expect(page.headers.get('retry-after')).toBe('30');
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(visibleText(await page.text())).toContain('Gatehouse is unavailable for a moment');

    const token = await fetch(`${gatehouse.url}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`,
      },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: 'x'.repeat(43),
        redirect_uri: REDIRECT_URI,
        code_verifier: 'v'.repeat(43),
      }),
    });
    expect(token.status).toBe(503);
    expect(token.headers.get('retry-after')).toBe('30');
    expect(await token.json()).toEqual({ error: 'temporarily_unavailable', error_description: expect.any(String) });

    const hosted = await fetch(`${gatehouse.url}/password/reset?token=${'t'.repeat(43)}`, { redirect: 'manual' });
    expect(hosted.status).toBe(503);
    expect(hosted.headers.get('retry-after')).toBe('30');
    expect(visibleText(await hosted.text())).toContain('Please try again in a minute');
  });
}, 90_000);

/** A session cookie as the provider would have set it (signed with its cookie keys): it must be looked up. */
async function signedCookies(gatehouse: TestGatehouse, cookies: Record<string, string>): Promise<string> {
  const { keys } = await gatehouse.services.oidc();
  const grip = new Keygrip(keys.cookieKeys);
  return Object.entries(cookies)
    .flatMap(([name, value]) => [`${name}=${value}`, `${name}.sig=${grip.sign(`${name}=${value}`)}`])
    .join('; ');
}

test('logout, resume, userinfo and registration answer the same 503 while the database is down, never a bare 500', async () => {
  await withDatabaseDown(async (gatehouse) => {
    const cookie = await signedCookies(gatehouse, { _session: 's'.repeat(43), _interaction_resume: 'i'.repeat(43) });
    const pages: Array<[string, RequestInit & { path: string }]> = [
      ['GET /session/end', { path: '/session/end' }],
      ['GET /session/end with a session', { path: '/session/end', headers: { cookie } }],
      [
        'POST /session/end/confirm',
        {
          path: '/session/end/confirm',
          method: 'POST',
          headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
          body: 'xsrf=x&logout=yes',
        },
      ],
      ['GET /auth/:uid (resume)', { path: `/auth/${'i'.repeat(43)}`, headers: { cookie } }],
    ];
    for (const [name, { path, ...init }] of pages) {
      const response = await fetch(`${gatehouse.url}${path}`, {
        redirect: 'manual',
        ...init,
        headers: { accept: 'text/html', ...init.headers },
      });
      const text = await response.text();
      expect([name, response.status, response.headers.get('retry-after'), response.headers.get('content-type')]).toEqual([
        name,
        503,
        '30',
        expect.stringMatching(/^text\/html/),
      ]);
      expect(response.headers.get('location')).toBeNull();
      expect(visibleText(text)).toContain('Gatehouse is unavailable for a moment');
    }
    const machines: Array<[string, RequestInit & { path: string }]> = [
      ['GET /me', { path: '/me', headers: { authorization: `Bearer ${'a'.repeat(43)}` } }],
      [
        'POST /reg',
        {
          path: '/reg',
          method: 'POST',
          headers: { authorization: `Bearer ${'a'.repeat(43)}`, 'content-type': 'application/json' },
          body: JSON.stringify({ redirect_uris: [REDIRECT_URI] }),
        },
      ],
      ['GET /reg/:id', { path: '/reg/gh_someone', headers: { authorization: `Bearer ${'a'.repeat(43)}` } }],
    ];
    for (const [name, { path, ...init }] of machines) {
      const response = await fetch(`${gatehouse.url}${path}`, init);
      const text = await response.text();
      expect([name, response.status, response.headers.get('retry-after')]).toEqual([name, 503, '30']);
      expect(JSON.parse(text)).toEqual({ error: 'temporarily_unavailable', error_description: expect.any(String) });
    }
  });
}, 90_000);
