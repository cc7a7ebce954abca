import crypto from 'node:crypto';
import * as client from 'openid-client';
import { type Authority, operatorAuthority } from '../src/admin/authority.ts';
import type { StoredAuditEvent } from '../src/db/repositories/audit.ts';
import type { Services } from '../src/services.ts';
import { Agent, formField, type Page, visibleText } from './support/agent.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { addClient, addSchool, addStaff, PASSWORD, relyingParty, submitCode, submitLogin } from './support/scenario.ts';
import { codeFor } from './support/totp.ts';

/**
 * The helpdesk's Clients area: the service's rules (helpdesk only, paging, never a secret in a
 * list, a new secret that replaces the old one at the real token endpoint, audited with the
 * actor), then the console pages over HTTP with a signed-in helpdesk member.
 */

let storage: TestStorage;
let gatehouse: TestGatehouse;
let services: Services;
let hill: { id: string; name: string };
let oak: { id: string; name: string };
let helpdesk: Authority;
let hillAdmin: Authority;

const OPERATOR = operatorAuthority('test');
/** Authenticator secrets (base32) of the people who sign in to the console below. */
const DESK_TOTP = 'PE2XQOK6OZIFISKUKUQTAUBVIZIWGJCT';
const OFFICE_TOTP = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';

async function personWith(email: string, role: 'helpdesk' | 'school-admin', totpSecret: string): Promise<Authority> {
  const account = await addStaff(services, email, [{ schoolId: hill.id, accessLevel: 'higher' }]);
  await services.admin.roles.grant(OPERATOR, { subject: { email }, role, ...(role === 'school-admin' ? { schoolId: hill.id } : {}) });
  const deviceId = crypto.randomUUID();
  await services.repositories.authenticators.insert({
    id: deviceId,
    accountId: account.id,
    name: 'Phone',
    secretSealed: services.box.seal(totpSecret, `totp:${deviceId}`),
    step: 0,
  });
  return services.admin.authorityOf({ kind: 'person', accountId: account.id, email: account.email }, '192.0.2.9');
}

async function lastEvent(event: string): Promise<StoredAuditEvent> {
  const page = await services.admin.auditTrail.list(OPERATOR, { event }, { limit: 1 });
  if (!page.items[0]) throw new Error(`No ${event} event`);
  return page.items[0];
}

const machine = (name: string, extra = {}) =>
  services.admin.clients.add(OPERATOR, { name, schoolIds: [], machine: true, redirectUris: [], ...extra });

/** A token from the real token endpoint with these credentials, or the OAuth error it was refused with. */
async function tokenWith(credentials: { clientId: string; clientSecret: string }): Promise<string> {
  try {
    const tokens = await client.clientCredentialsGrant(await relyingParty(gatehouse.issuer, credentials));
    return tokens.access_token ? 'issued' : 'no token';
  } catch (error) {
    // A 401 comes as a WWW-Authenticate challenge (client_secret_basic), which names the error.
    const failure = error as { error?: string; cause?: Array<{ parameters?: { error?: string } }> };
    return failure.error ?? failure.cause?.[0]?.parameters?.error ?? String(error);
  }
}

beforeAll(async () => {
  storage = await createTestStorage();
  gatehouse = await startTestGatehouse(storage);
  services = gatehouse.services;
  hill = await addSchool(services, 'Hill Primary School', 'HP1 1AA');
  oak = await addSchool(services, 'Oak Academy', 'OA2 2BB');
  helpdesk = await personWith('desk@trust.example', 'helpdesk', DESK_TOTP);
  hillAdmin = await personWith('office@hill.example', 'school-admin', OFFICE_TOTP);
});

afterAll(async () => {
  await gatehouse?.close();
  await storage?.drop();
});

describe('the service', () => {
  test('only the helpdesk: a school administrator is refused every client act, and the refusal is audited', async () => {
    const { clientId } = await addClient(services, 'Hill MIS', [hill.id]);
    const attempts: Array<[string, () => Promise<unknown>]> = [
      ['list', () => services.admin.clients.list(hillAdmin, {})],
      ['get', () => services.admin.clients.get(hillAdmin, clientId)],
      ['newSecret', () => services.admin.clients.newSecret(hillAdmin, clientId)],
      ['link', () => services.admin.clients.link(hillAdmin, clientId, [hill.id])],
      ['unlink', () => services.admin.clients.unlink(hillAdmin, clientId, hill.id)],
    ];
    for (const [name, attempt] of attempts) {
      await expect(attempt().then(() => `${name} allowed`)).rejects.toMatchObject({ kind: 'forbidden' });
    }
    expect(await lastEvent('admin.client.secret')).toMatchObject({
      outcome: 'failure',
      reason: 'Only the helpdesk can do this.',
      detail: { clientId, actor: { type: 'person', email: 'office@hill.example' } },
    });
    expect((await services.admin.clients.get(helpdesk, clientId)).schools.map((school) => school.id)).toEqual([hill.id]);
  });

  test('the list pages by name then id, searches name or id, and never carries a secret', async () => {
    const names = ['Paging Delta', 'Paging Bravo', 'Paging Charlie', 'Paging Alpha', 'Paging Bravo'];
    const added = [];
    for (const name of names) added.push(await addClient(services, name, [oak.id]));
    const api = await machine('Paging Echo', { apiRole: 'school-admin', schoolIds: [hill.id] });

    const seen: Array<Awaited<ReturnType<Services['admin']['clients']['get']>>> = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await services.admin.clients.list(helpdesk, { search: 'paging', cursor, limit: 2 });
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items);
      cursor = page.nextCursor ?? undefined;
      pages += 1;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(seen.map((item) => item.name)).toEqual([
      'Paging Alpha',
      'Paging Bravo',
      'Paging Bravo',
      'Paging Charlie',
      'Paging Delta',
      'Paging Echo',
    ]);
    // Two clients of one name: each once, the id breaking the tie.
    expect(seen.map((item) => item.clientId).sort()).toEqual([...added, api].map((credentials) => credentials.clientId).sort());

    expect(seen.at(-1)).toMatchObject({
      clientId: api.clientId,
      machine: true,
      redirectUris: [],
      schools: [{ id: hill.id, name: 'Hill Primary School' }],
      apiRoles: [{ role: 'school-admin', schoolId: hill.id }],
    });
    expect(seen[0]).toMatchObject({
      clientId: added[3]!.clientId,
      machine: false,
      redirectUris: ['http://localhost:65010/callback'],
      apiRoles: [],
      schools: [{ id: oak.id, name: 'Oak Academy' }],
    });
    const listed = JSON.stringify(seen);
    for (const credentials of [...added, api]) expect(listed).not.toContain(credentials.clientSecret);
    expect(listed).not.toMatch(/"client_?secret"|sealed/i);

    const byId = await services.admin.clients.list(helpdesk, { search: api.clientId.slice(3, 12) });
    expect(byId.items.map((item) => item.clientId)).toEqual([api.clientId]);
    await expect(services.admin.clients.list(helpdesk, { cursor: 'not-a-cursor' })).rejects.toMatchObject({ kind: 'validation' });
  });

  test('a new secret: the old one is refused at the token endpoint at once, the new one accepted, audited with the actor', async () => {
    const credentials = await machine('Nightly sync', { schoolIds: [hill.id] });
    expect(await tokenWith(credentials)).toBe('issued');
    const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
    const before = (await (
      await fetch(`${gatehouse.issuer}/token`, {
        method: 'POST',
        headers: {
          Authorization: basic(credentials.clientId, credentials.clientSecret),
          'Content-Type': 'application/x-www-form-urlencoded',
        },
        body: 'grant_type=client_credentials',
      })
    ).json()) as { access_token: string };

    const renewed = await services.admin.clients.newSecret(helpdesk, credentials.clientId);
    // The tokens the old secret bought end with it.
    const introspected = (await (
      await fetch(`${gatehouse.issuer}/token/introspection`, {
        method: 'POST',
        headers: { Authorization: basic(credentials.clientId, renewed.clientSecret), 'Content-Type': 'application/x-www-form-urlencoded' },
        body: `token=${before.access_token}`,
      })
    ).json()) as { active: boolean };
    expect(introspected.active).toBe(false);
    expect(renewed.clientId).toBe(credentials.clientId);
    expect(renewed.clientSecret).toMatch(/^[\w-]{43}$/);
    expect(renewed.clientSecret).not.toBe(credentials.clientSecret);
    expect(await tokenWith(credentials)).toBe('invalid_client');
    expect(await tokenWith({ clientId: credentials.clientId, clientSecret: renewed.clientSecret })).toBe('issued');

    const event = await lastEvent('admin.client.secret');
    expect(event).toMatchObject({
      outcome: 'success',
      ip: '192.0.2.9',
      detail: { clientId: credentials.clientId, actor: { type: 'person', email: 'desk@trust.example' } },
    });
    expect(JSON.stringify(event)).not.toContain(renewed.clientSecret);
    // Stored sealed, like every client secret; the rest of the client is as it was.
    const row = await services.repositories.oidcPayloads.find('Client', credentials.clientId);
    expect(row?.payload.client_secret_sealed).toEqual(expect.any(String));
    expect(JSON.stringify(row)).not.toContain(renewed.clientSecret);
    expect(await services.admin.clients.get(helpdesk, credentials.clientId)).toMatchObject({
      name: 'Nightly sync',
      machine: true,
      schools: [{ id: hill.id }],
    });
  });

  test('a new secret keeps a development (http://localhost) initiate login URI, which the provider never sees', async () => {
    const { clientId } = await addClient(services, 'Local MIS', [hill.id], { initiateLoginUri: 'http://localhost:65010/start' });
    await services.admin.clients.newSecret(OPERATOR, clientId);
    expect(await services.admin.clients.get(OPERATOR, clientId)).toMatchObject({
      initiateLoginUri: 'http://localhost:65010/start',
      redirectUris: ['http://localhost:65010/callback'],
    });
  });

  test('an unknown client has no secret to renew; unlink removes only that school and only once', async () => {
    await expect(services.admin.clients.newSecret(helpdesk, 'gh_nobody')).rejects.toMatchObject({ kind: 'not_found' });
    const { clientId } = await addClient(services, 'Two schools', [hill.id, oak.id]);
    await services.admin.clients.unlink(helpdesk, clientId, oak.id);
    expect((await services.admin.clients.get(helpdesk, clientId)).schools.map((school) => school.id)).toEqual([hill.id]);
    await expect(services.admin.clients.unlink(helpdesk, clientId, oak.id)).rejects.toMatchObject({ kind: 'not_found' });
    expect(await lastEvent('admin.client.unlink')).toMatchObject({ outcome: 'failure', detail: { clientId, school: oak.id } });
  });

  test('a redirect URI problem names its field', async () => {
    await expect(
      services.admin.clients.add(helpdesk, { name: 'Bad', schoolIds: [hill.id], redirectUris: ['http://mis.example/cb'] }),
    ).rejects.toMatchObject({ kind: 'validation', field: 'redirectUris', message: expect.stringContaining('must use https') });
    await expect(
      services.admin.clients.add(helpdesk, {
        name: 'Bad',
        schoolIds: [hill.id],
        redirectUris: ['https://mis.example/cb'],
        backchannelLogoutUri: 'https://mis.example/logout#x',
      }),
    ).rejects.toMatchObject({ kind: 'validation', field: 'backchannelLogoutUri' });
  });
});

describe('the console pages', () => {
  /** Signs in to the console with password and authenticator code; returns the page asked for. */
  async function signedIn(email: string, totpSecret: string, path: string): Promise<{ agent: Agent; page: Page }> {
    const agent = new Agent('http://stop.invalid/');
    const login = await agent.follow(await agent.get(`${gatehouse.issuer}${path}`));
    const codePage = await agent.follow(await submitLogin(agent, login, email, PASSWORD));
    expect(visibleText(codePage.html)).toContain('Enter your code');
    const page = await agent.follow(await submitCode(agent, codePage, codeFor(totpSecret)));
    return { agent, page };
  }

  /** Posts a form of the page (its CSRF token) as this browser; the answer keeps its Cache-Control. */
  async function post(agent: Agent, page: Page, path: string, form: Record<string, string>, csrf = formField(page.html, '_csrf')) {
    const body = new URLSearchParams({ ...(csrf ? { _csrf: csrf } : {}), ...form });
    const response = await fetch(`${gatehouse.issuer}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: [...agent.cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
      body: body.toString(),
    });
    const location = response.headers.get('location');
    return {
      status: response.status,
      url: `${gatehouse.issuer}${path}`,
      html: await response.text(),
      location: location ? new URL(location, gatehouse.issuer).toString() : null,
      cacheControl: response.headers.get('cache-control'),
    };
  }

  const secretOn = (page: Page) => /<code class="key" id="client-secret">([^<]+)<\/code>/.exec(page.html)?.[1];
  const clientIdOn = (page: Page) => /client_id\)<\/dt><dd><code class="key">([^<]+)<\/code>/.exec(page.html)?.[1];

  test('a school administrator gets a 403 page', async () => {
    const { page } = await signedIn('office@hill.example', OFFICE_TOTP, '/admin/clients');
    expect(page.status).toBe(403);
    expect(visibleText(page.html)).toContain('Only the helpdesk can do this.');
  });

  test('the helpdesk adds clients, sees the secret once, links a school, and makes a new secret', async () => {
    const { agent, page: list } = await signedIn('desk@trust.example', DESK_TOTP, '/admin/clients');
    expect(list.status).toBe(200);
    expect(visibleText(list.html)).toContain('Add a school system');

    // A redirect URI the domain refuses: shown next to its field, nothing added.
    const refused = await post(agent, list, '/admin/clients', {
      kind: 'system',
      name: 'Refused MIS',
      redirectUris: 'https://mis.example/cb\nhttp://mis.example/cb',
      schoolIds: hill.id,
    });
    expect(refused.status).toBe(400);
    expect(refused.html).toMatch(/id="system-redirectUris-error"[^>]*>http:\/\/mis.example\/cb must use https/);
    expect(refused.html).toMatch(/<textarea id="system-redirectUris"[^>]*aria-invalid="true"/);
    expect((await services.admin.clients.list(helpdesk, { search: 'Refused MIS' })).items).toEqual([]);

    // A school system at two schools, one chosen from the list, one by its id.
    const created = await post(agent, list, '/admin/clients', {
      kind: 'system',
      name: 'Console MIS',
      redirectUris: 'https://mis.example/cb\r\nhttps://mis.example/cb2',
      postLogoutRedirectUris: 'https://mis.example/bye',
      initiateLoginUri: '',
      backchannelLogoutUri: '',
      schoolIds: hill.id,
      schoolIdText: oak.id,
    });
    expect(created.status).toBe(200);
    const systemId = clientIdOn(created)!;
    expect(visibleText(created.html)).toContain('Copy the secret now: it is not shown again.');
    expect(secretOn(created)).toMatch(/^[\w-]{43}$/);
    expect(await services.admin.clients.get(helpdesk, systemId)).toMatchObject({
      name: 'Console MIS',
      redirectUris: ['https://mis.example/cb', 'https://mis.example/cb2'],
      postLogoutRedirectUris: ['https://mis.example/bye'],
      schools: [{ id: hill.id }, { id: oak.id }],
    });

    // A machine client: its secret, shown once and kept in no cache, works at the token endpoint.
    const machinePage = await post(agent, list, '/admin/clients', { kind: 'machine', name: 'Console sync', apiRole: '' });
    expect(machinePage.status).toBe(200);
    expect(machinePage.cacheControl).toBe('no-store');
    const credentials = { clientId: clientIdOn(machinePage)!, clientSecret: secretOn(machinePage)! };
    expect(await tokenWith(credentials)).toBe('issued');
    expect((await agent.get(`${gatehouse.issuer}/admin/clients/${credentials.clientId}`)).html).not.toContain(credentials.clientSecret);

    // Its page, a school linked, then a new secret after a confirmation page.
    const detail = await agent.get(`${gatehouse.issuer}/admin/clients/${credentials.clientId}`);
    expect(visibleText(detail.html)).toContain('Machine client');
    const linked = await agent.follow(await post(agent, detail, `/admin/clients/${credentials.clientId}/schools`, { schoolIds: oak.id }));
    expect(visibleText(linked.html)).toContain('The client now serves the school');
    expect(visibleText(linked.html)).toContain('Oak Academy');
    const confirm = await agent.get(`${gatehouse.issuer}/admin/clients/${credentials.clientId}/secret`);
    expect(visibleText(confirm.html)).toContain('The current secret stops working at once');
    const renewed = await post(agent, confirm, `/admin/clients/${credentials.clientId}/secret`, {});
    expect(renewed.status).toBe(200);
    expect(renewed.cacheControl).toBe('no-store');
    const newSecret = secretOn(renewed)!;
    expect(newSecret).not.toBe(credentials.clientSecret);
    expect(await tokenWith(credentials)).toBe('invalid_client');
    expect(await tokenWith({ ...credentials, clientSecret: newSecret })).toBe('issued');
    expect(await lastEvent('admin.client.secret')).toMatchObject({
      detail: { clientId: credentials.clientId, actor: { type: 'person', email: 'desk@trust.example' } },
    });

    // Without the CSRF token, no new secret.
    const forged = await post(agent, confirm, `/admin/clients/${credentials.clientId}/secret`, {}, '');
    expect(forged.status).toBe(403);
    expect(await tokenWith({ ...credentials, clientSecret: newSecret })).toBe('issued');

    // An unknown client, or an id no client could have: a 404 page.
    for (const path of ['/admin/clients/gh_nobody', '/admin/clients/%E2%80%AE', '/admin/clients/gh_nobody/secret']) {
      expect((await agent.get(`${gatehouse.issuer}${path}`)).status).toBe(404);
    }
  });
});
