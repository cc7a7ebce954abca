import * as client from 'openid-client';
import { operatorAuthority } from '../src/admin/authority.ts';
import { API_ROUTES } from '../src/admin/api/routes.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { startSmtpServer } from './support/smtp.ts';
import { addSchool, addStaff, relyingParty } from './support/scenario.ts';

/**
 * The management API at /api/v1 as an integrator meets it: tokens from Gatehouse's own token
 * endpoint through a real openid-client, JSON in and out, RFC 9457 problems for every error.
 */
let storage: TestStorage;
let gatehouse: TestGatehouse;
let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
const operator = operatorAuthority('test');

beforeAll(async () => {
  storage = await createTestStorage();
  smtp = await startSmtpServer();
  gatehouse = await startTestGatehouse(storage, { SMTP_URL: smtp.url });
});

afterAll(async () => {
  await gatehouse?.close();
  await smtp?.close();
  await storage?.drop();
});

type ApiClient = { token: string; clientId: string };

async function apiClient(apiRole: 'helpdesk' | 'school-admin', schoolIds: string[] = []): Promise<ApiClient> {
  const credentials = await gatehouse.services.admin.clients.add(operator, {
    name: `API ${apiRole}`,
    schoolIds,
    machine: true,
    redirectUris: [],
    apiRole,
  });
  const config = await relyingParty(gatehouse.issuer, credentials);
  const tokens = await client.clientCredentialsGrant(config, { scope: 'gatehouse:admin' });
  return { token: tokens.access_token, clientId: credentials.clientId };
}

async function call(who: ApiClient | null, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${gatehouse.issuer}/api/v1${path}`, {
    method,
    headers: {
      ...(who ? { Authorization: `Bearer ${who.token}` } : {}),
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    type: response.headers.get('content-type') ?? '',
    challenge: response.headers.get('www-authenticate'),
    body: text ? (JSON.parse(text) as Record<string, any>) : null,
  };
}

const isProblem = (answer: Awaited<ReturnType<typeof call>>, status: number) => {
  expect(answer.status).toBe(status);
  expect(answer.type).toMatch(/^application\/problem\+json/);
  expect(answer.body).toMatchObject({
    type: expect.stringMatching(/^urn:gatehouse:problem:/),
    status,
    title: expect.any(String),
    detail: expect.any(String),
  });
};

describe('authentication', () => {
  test('no token, a malformed header, an unknown token: 401 problems with a Bearer challenge', async () => {
    const none = await call(null, 'GET', '/schools');
    isProblem(none, 401);
    expect(none.challenge).toBe('Bearer realm="gatehouse"');
    const malformed = await call(null, 'GET', '/schools', undefined, { Authorization: 'Basic abc' });
    isProblem(malformed, 401);
    const unknown = await call({ token: 'x'.repeat(43), clientId: '' }, 'GET', '/schools');
    isProblem(unknown, 401);
    expect(unknown.challenge).toContain('error="invalid_token"');
  });

  test('only an API client is issued the admin scope; an ordinary machine token is refused with insufficient_scope', async () => {
    const school = await addSchool(gatehouse.services, 'Scope School');
    const machine = await gatehouse.services.clients.add({ name: 'Sync', schoolIds: [school.id], machine: true, redirectUris: [] });
    const config = await relyingParty(gatehouse.issuer, machine);
    await expect(client.clientCredentialsGrant(config, { scope: 'gatehouse:admin' })).rejects.toMatchObject({ error: 'invalid_scope' });
    const plain = await client.clientCredentialsGrant(config);
    const answer = await call({ token: plain.access_token, clientId: machine.clientId }, 'GET', '/schools');
    isProblem(answer, 403);
    expect(answer.challenge).toContain('error="insufficient_scope"');
  });

  test('a sender-constrained (DPoP) token is not accepted as a bearer token', async () => {
    const credentials = await gatehouse.services.admin.clients.add(operator, {
      name: 'DPoP',
      schoolIds: [],
      machine: true,
      redirectUris: [],
      apiRole: 'helpdesk',
    });
    const config = await relyingParty(gatehouse.issuer, credentials);
    const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair());
    const bound = await client.clientCredentialsGrant(config, { scope: 'gatehouse:admin' }, { DPoP });
    expect(bound.token_type.toLowerCase()).toBe('dpop');
    const answer = await call({ token: bound.access_token, clientId: credentials.clientId }, 'GET', '/schools');
    isProblem(answer, 401);
    expect(answer.challenge).toContain('error="invalid_token"');
  });

  test('an API role can only be given to a client made for the API (no other is ever issued the scope)', async () => {
    const school = await addSchool(gatehouse.services, 'Role School');
    const ordinary = await gatehouse.services.clients.add({ name: 'Sync', schoolIds: [school.id], machine: true, redirectUris: [] });
    await expect(
      gatehouse.services.admin.roles.grant(operator, { subject: { clientId: ordinary.clientId }, role: 'helpdesk' }),
    ).rejects.toMatchObject({ kind: 'validation' });
  });

  test('a client whose API role is revoked is refused on its next request, with the same token', async () => {
    const helpdesk = await apiClient('helpdesk');
    expect((await call(helpdesk, 'GET', '/schools')).status).toBe(200);
    await gatehouse.services.admin.roles.revoke(operator, { subject: { clientId: helpdesk.clientId }, role: 'helpdesk' });
    isProblem(await call(helpdesk, 'GET', '/schools'), 403);
  });
});

describe('as the helpdesk', () => {
  test('schools and staff: add, idempotent add, change level, list by cursor, remove', async () => {
    const helpdesk = await apiClient('helpdesk');
    const created = await call(helpdesk, 'POST', '/schools', { name: 'Ash Primary', postcode: 'AS1 1AA' });
    expect(created.status).toBe(201);
    const schoolId = created.body!.id as string;
    expect((await call(helpdesk, 'GET', `/schools/${schoolId}`)).body).toMatchObject({ name: 'Ash Primary', postcode: 'AS1 1AA' });

    const member = { email: 'New.Teacher@ash.example', name: 'New Teacher', level: 'basic', invite: true };
    const first = await call(helpdesk, 'POST', `/schools/${schoolId}/members`, member);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ result: 'added', account_created: true, invited: true, level: 'basic', has_password: false });
    await smtp.waitFor('new.teacher@ash.example', /password/i);
    const again = await call(helpdesk, 'POST', `/schools/${schoolId}/members`, member);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ result: 'unchanged', account_created: false, account_id: first.body!.account_id, invited: false });
    // A retried request sends no second mail.
    const requested = await gatehouse.database.dataSource.query(
      `SELECT 1 FROM audit_events WHERE event = 'password_reset.request' AND email_normalised = 'new.teacher@ash.example'`,
    );
    expect(requested).toHaveLength(1);
    const accountId = first.body!.account_id as string;

    const changed = await call(helpdesk, 'PATCH', `/schools/${schoolId}/members/${accountId}`, { level: 'higher' });
    expect(changed.body).toMatchObject({ level: 'higher' });

    for (const n of [1, 2, 3, 4]) {
      expect((await call(helpdesk, 'POST', `/schools/${schoolId}/members`, { email: `t${n}@ash.example`, level: 'basic' })).status).toBe(
        201,
      );
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await call(helpdesk, 'GET', `/schools/${schoolId}/members?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.body!.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body!.items.map((item: { email: string }) => item.email));
      cursor = page.body!.next_cursor;
    } while (cursor);
    expect(seen).toEqual(['New.Teacher@ash.example', 't1@ash.example', 't2@ash.example', 't3@ash.example', 't4@ash.example']);
    expect((await call(helpdesk, 'GET', `/schools/${schoolId}/members?search=t3`)).body!.items).toHaveLength(1);

    const removed = await call(helpdesk, 'DELETE', `/schools/${schoolId}/members/${accountId}`);
    expect(removed.status).toBe(200);
    expect(removed.body).toEqual({ revoked_grants: 0, revoked_role: false });
    isProblem(await call(helpdesk, 'GET', `/schools/${schoolId}/members/${accountId}`), 404);
    isProblem(await call(helpdesk, 'DELETE', `/schools/${schoolId}/members/${accountId}`), 404);
  });

  test('people: find by email, lock with a reason, unlock; every act is audited naming the API client', async () => {
    const helpdesk = await apiClient('helpdesk');
    const school = await addSchool(gatehouse.services, 'Birch School');
    const account = await addStaff(gatehouse.services, 'lockme@birch.example', [{ schoolId: school.id, accessLevel: 'basic' }]);
    const found = await call(helpdesk, 'GET', '/accounts?email=LOCKME@birch.example');
    expect(found.body!.items).toEqual([expect.objectContaining({ id: account.id, status: 'active', devices: 0, has_password: true })]);
    expect((await call(helpdesk, 'POST', `/accounts/${account.id}/lock`, { reason: 'Left in a hurry' })).body).toMatchObject({
      status: 'locked',
    });
    expect((await call(helpdesk, 'POST', `/accounts/${account.id}/unlock`)).body).toMatchObject({ status: 'active' });
    const audit = await call(helpdesk, 'GET', `/audit?event=admin.user.lock&email=lockme@birch.example`);
    expect(audit.body!.items).toEqual([
      expect.objectContaining({
        event: 'admin.user.lock',
        outcome: 'success',
        account_id: account.id,
        detail: expect.objectContaining({ reason: 'Left in a hurry', actor: { type: 'client', clientId: helpdesk.clientId } }),
      }),
    ]);
  });
  test('a school administrator who leaves the school stops administering it, in the same act', async () => {
    const helpdesk = await apiClient('helpdesk');
    const school = await addSchool(gatehouse.services, 'Hazel School');
    const other = await addSchool(gatehouse.services, 'Holly School');
    const head = await addStaff(gatehouse.services, 'head@hazel.example', [
      { schoolId: school.id, accessLevel: 'higher' },
      { schoolId: other.id, accessLevel: 'higher' },
    ]);
    for (const schoolId of [school.id, other.id]) {
      await gatehouse.services.admin.roles.grant(operator, { subject: { email: head.email }, role: 'school-admin', schoolId });
    }
    const removed = await call(helpdesk, 'DELETE', `/schools/${school.id}/members/${head.id}`);
    expect(removed.body).toEqual({ revoked_grants: 0, revoked_role: true });
    const authority = await gatehouse.services.admin.authorityOf({ kind: 'person', accountId: head.id, email: head.email });
    expect([...authority.schoolIds]).toEqual([other.id]);
  });
});

describe('as a school administrator', () => {
  test('confined to their school: other schools are 403, people only there are 404, credentials are helpdesk-only', async () => {
    const own = await addSchool(gatehouse.services, 'Cedar School');
    const other = await addSchool(gatehouse.services, 'Damson School');
    const admin = await apiClient('school-admin', [own.id]);
    const elsewhere = await addStaff(gatehouse.services, 'elsewhere@damson.example', [{ schoolId: other.id, accessLevel: 'basic' }]);
    const both = await addStaff(gatehouse.services, 'both@cedar.example', [
      { schoolId: own.id, accessLevel: 'basic' },
      { schoolId: other.id, accessLevel: 'higher' },
    ]);

    expect((await call(admin, 'GET', '/schools')).body!.items.map((s: { id: string }) => s.id)).toEqual([own.id]);
    isProblem(await call(admin, 'GET', `/schools/${other.id}`), 403);
    isProblem(await call(admin, 'GET', `/schools/${other.id}/members`), 403);
    isProblem(await call(admin, 'POST', `/schools/${other.id}/members`, { email: 'x@damson.example', level: 'basic' }), 403);
    isProblem(await call(admin, 'DELETE', `/schools/${other.id}/members/${elsewhere.id}`), 403);
    isProblem(await call(admin, 'GET', `/schools/00000000-0000-4000-8000-000000000000`), 403);
    isProblem(await call(admin, 'POST', '/schools', { name: 'Mine', postcode: 'M1 1MM' }), 403);
    isProblem(await call(admin, 'GET', `/accounts/${elsewhere.id}`), 404);
    expect((await call(admin, 'GET', '/accounts?email=elsewhere@damson.example')).body!.items).toEqual([]);
    // Signed in at the other school only: a school administrator learns nothing of it.
    await gatehouse.services.audit.record({ event: 'sign_in.authorized', outcome: 'success', accountId: both.id, schoolId: other.id });
    const seen = await call(admin, 'GET', `/accounts/${both.id}`);
    expect(seen.body!.memberships).toEqual([{ school_id: own.id, school_name: 'Cedar School', level: 'basic' }]);
    expect(seen.body!.last_sign_in).toBeNull();
    const byHelpdesk = await call(await apiClient('helpdesk'), 'GET', `/accounts/${both.id}`);
    expect(byHelpdesk.body!.last_sign_in).toEqual(expect.any(String));
    isProblem(await call(admin, 'POST', `/accounts/${both.id}/lock`), 403);
    isProblem(await call(admin, 'POST', `/accounts/${both.id}/mfa-reset`, { reason: 'lost phone' }), 403);
    isProblem(await call(admin, 'GET', `/audit?school=${other.id}`), 403);

    // A refused look is in the trail, naming who looked.
    const refusedReads = await gatehouse.database.dataSource.query(
      `SELECT detail FROM audit_events WHERE event = 'admin.read' AND outcome = 'failure' AND detail->'actor'->>'clientId' = $1`,
      [admin.clientId],
    );
    expect(refusedReads.length).toBeGreaterThanOrEqual(3);

    // Someone who already signs in gets no set-your-password mail from a school administrator.
    isProblem(await call(admin, 'POST', `/schools/${own.id}/members/${both.id}/invite`), 409);

    expect((await call(admin, 'POST', `/schools/${own.id}/members`, { email: 'new@cedar.example', level: 'higher' })).status).toBe(201);
    const events = (await call(admin, 'GET', '/audit')).body!.items as Array<{ school_id: string | null }>;
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((event) => event.school_id === own.id)).toBe(true);
  });
});

describe('bad input is a 4xx problem, never a 500 or a page', () => {
  let helpdesk: ApiClient;
  let schoolId: string;
  beforeAll(async () => {
    helpdesk = await apiClient('helpdesk');
    schoolId = (await addSchool(gatehouse.services, 'Elm School')).id;
  });

  test.each([
    ['malformed JSON', '{"email":', 400],
    ['not an object', '[1,2]', 400],
    ['an unknown field', { email: 'a@elm.example', level: 'basic', admin: true }, 400],
    ['a bad email', { email: 'not-an-address', level: 'basic' }, 400],
    ['a bad level', { email: 'a@elm.example', level: 'root' }, 400],
    ['a lone surrogate', '{"email":"a@elm.example","level":"basic","name":"\\ud800"}', 400],
    ['a NUL in the address', '{"email":"a\\u0000@elm.example","level":"basic"}', 400],
    ['a lone surrogate in the address', '{"email":"\\ud800@elm.example","level":"basic"}', 400],
  ])('%s', async (_label, body, status) => {
    const answer = await call(helpdesk, 'POST', `/schools/${schoolId}/members`, body);
    isProblem(answer, status);
    expect(await gatehouse.services.repositories.accounts.findByEmail('a@elm.example')).toBeNull();
  });

  test('field errors point at the field', async () => {
    const answer = await call(helpdesk, 'POST', `/schools/${schoolId}/members`, { email: 'nope', level: 'basic' });
    expect(answer.body!.errors).toEqual([{ pointer: '/email', detail: 'must be an email address' }]);
  });

  test('a body that is not JSON, a forged cursor, a bad id, an unknown query field, an unknown path', async () => {
    isProblem(await call(helpdesk, 'POST', '/schools', 'name=x', { 'Content-Type': 'application/x-www-form-urlencoded' }), 415);
    isProblem(await call(helpdesk, 'GET', `/schools?cursor=${Buffer.from('["x","not-a-uuid"]').toString('base64url')}`), 400);
    isProblem(await call(helpdesk, 'GET', '/schools?cursor=%%%'), 400);
    isProblem(await call(helpdesk, 'GET', '/schools/not-a-uuid/members'), 404);
    isProblem(await call(helpdesk, 'GET', '/schools?colour=blue'), 400);
    isProblem(await call(helpdesk, 'GET', '/schools?limit=100000'), 400);
    isProblem(await call(helpdesk, 'GET', '/audit?since=yesterday'), 400);
    // Date.parse takes 30 February and year 0; PostgreSQL would answer them with an error (a 500).
    for (const at of ['2024-02-30T00:00:00.000000Z', '0000-01-01T00:00:00.000000Z']) {
      isProblem(await call(helpdesk, 'GET', `/audit?cursor=${Buffer.from(JSON.stringify([at, '1'])).toString('base64url')}`), 400);
    }
    // NUL cannot be stored or searched for: a 400, never a 500.
    isProblem(await call(helpdesk, 'GET', '/accounts?email=a%00@b.example'), 400);
    isProblem(await call(helpdesk, 'GET', '/schools?search=%00'), 400);
    isProblem(await call(helpdesk, 'GET', `/schools/${schoolId}/members?search=a%00`), 400);
    isProblem(await call(helpdesk, 'GET', '/nothing-here'), 404);
    isProblem(await call(null, 'GET', '/nothing-here'), 404);
  });
});

describe('the OpenAPI document', () => {
  test('is served, 3.1, and documents exactly the routes the server answers', async () => {
    const response = await fetch(`${gatehouse.issuer}/api/v1/openapi.json`);
    expect(response.status).toBe(200);
    const document = (await response.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(document.openapi).toBe('3.1.0');
    const documented = Object.entries(document.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method} ${path}`),
    );
    expect(documented.sort()).toEqual(API_ROUTES.map((route) => `${route.method} ${route.path}`).sort());
    for (const route of [
      'get /schools',
      'post /schools',
      'get /schools/{schoolId}',
      'get /schools/{schoolId}/members',
      'post /schools/{schoolId}/members',
      'patch /schools/{schoolId}/members/{accountId}',
      'delete /schools/{schoolId}/members/{accountId}',
      'get /accounts',
      'get /accounts/{accountId}',
      'post /accounts/{accountId}/lock',
      'post /accounts/{accountId}/unlock',
      'post /accounts/{accountId}/mfa-reset',
      'get /audit',
    ]) {
      expect(documented).toContain(route);
    }

    // Every documented operation is answered by the server (not the catch-all), with a helpdesk token.
    const helpdesk = await apiClient('helpdesk');
    const school = await addSchool(gatehouse.services, 'Fir School');
    const person = await addStaff(gatehouse.services, 'fir@fir.example', [{ schoolId: school.id, accessLevel: 'basic' }]);
    for (const entry of documented) {
      const [method, template] = entry.split(' ') as [string, string];
      const path = template.replace('{schoolId}', school.id).replace('{accountId}', person.id);
      const answer = await call(helpdesk, method.toUpperCase(), path, method === 'get' || method === 'delete' ? undefined : {});
      expect([entry, answer.body?.detail ?? '']).not.toEqual([entry, expect.stringMatching(/^There is no /)]);
      expect(answer.status).toBeLessThan(500);
      // What the server answers is what the document says it answers.
      const route = API_ROUTES.find((r) => `${r.method} ${r.path}` === entry)!;
      const schema = route.responses[answer.status];
      if (answer.status < 300) expect([entry, schema?.safeParse(answer.body ?? null).success]).toEqual([entry, true]);
    }
  });
});
