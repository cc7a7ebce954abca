import type { AccessService } from '../src/domain/access.ts';
import { manageAccountLink, schoolNameOfClient } from '../src/interactions/branding.ts';
import { ACCOUNT_CLIENT_ID } from '../src/oidc/policy.ts';
import { visibleText, type Page } from './support/agent.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { Agent, addSchool, addStaff, authorizationRequest, REDIRECT_URI, relyingParty, start } from './support/scenario.ts';
import { startSmtpServer } from './support/smtp.ts';

/**
 * Whose name a page or a mail carries is decided by the helpdesk (the school a client is linked
 * to), never by whoever registered a client: a dynamically registered client named like a school
 * brands nothing. Bad input on the new routes is a 4xx or a redirect, never a 500.
 */

const SERVICE = 'Trust Sign-In';
let storage: TestStorage;
let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
let gatehouse: TestGatehouse;

beforeAll(async () => {
  storage = await createTestStorage();
  smtp = await startSmtpServer();
  gatehouse = await startTestGatehouse(storage, { SMTP_URL: smtp.url, MAIL_FROM: 'sso@trust.test', SERVICE_NAME: SERVICE });
  const school = await addSchool(gatehouse.services, 'Ysgol Bro Teifi');
  await addStaff(gatehouse.services, 'athro@teifi.example', [{ schoolId: school.id, accessLevel: 'basic' }]);
});

afterAll(async () => {
  await gatehouse?.close();
  await smtp?.close();
  await storage?.drop();
});

const header = (page: Page) => visibleText(/<h1 class="school">([\s\S]*?)<\/h1>/.exec(page.html)?.[1] ?? '');

/** A client registered through /reg with an initial access token, named like a real school and linked to none. */
async function impostor(): Promise<{ clientId: string; clientSecret: string }> {
  const { provider } = await gatehouse.services.oidc();
  const token = await new provider.InitialAccessToken({ expiresIn: 600, policies: ['school-system'] }).save();
  const response = await fetch(`${gatehouse.issuer}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ client_name: 'Ysgol Bro Teifi', redirect_uris: [REDIRECT_URI] }),
  });
  expect(response.status).toBe(201);
  const body = (await response.json()) as { client_id: string; client_secret: string };
  return { clientId: body.client_id, clientSecret: body.client_secret };
}

test('a registered client’s own name brands neither its pages nor the mails sent from its sign-in', async () => {
  const credentials = await impostor();
  const agent = new Agent(REDIRECT_URI);
  const login = await start(agent, await authorizationRequest(await relyingParty(gatehouse.issuer, credentials)));
  expect(header(login)).toBe(SERVICE);

  const forgot = await agent.get(new URL(/href="([^"]*\/forgot[^"]*)"/.exec(login.html)![1]!.replace(/&amp;/g, '&'), login.url).toString());
  const action = new URL(/<form method="post" action="([^"]+)"/.exec(forgot.html)![1]!.replace(/&amp;/g, '&'), forgot.url).toString();
  const csrf = /name="_csrf" value="([^"]+)"/.exec(forgot.html)![1]!;
  const sent = await agent.post(action, { _csrf: csrf, email: 'athro@teifi.example' });
  expect(sent.status).toBe(200);
  const mail = await smtp.waitFor('athro@teifi.example', /./);
  expect(mail.from).toEqual({ name: SERVICE, address: 'sso@trust.test' });
  expect(mail.subject).not.toContain('Teifi');

  // Account settings told about that client: still the service's name on its sign-in.
  const browser = new Agent(REDIRECT_URI);
  const accountSignIn = await browser.follow(await browser.get(`${gatehouse.issuer}/account?client_id=${credentials.clientId}`));
  expect(accountSignIn.url).toContain('/interaction/');
  expect(header(accountSignIn)).toBe(SERVICE);
});

test.each(['%00', 'a%00b', '%E0%A4%A', 'x'.repeat(300), '../../etc'])(
  'Account settings with client_id=%s is a sign-in, not an error',
  async (value) => {
    const response = await fetch(`${gatehouse.issuer}/account/security-keys?client_id=${value}`, { redirect: 'manual' });
    expect([302, 303]).toContain(response.status);
  },
);

test('the language link sets a Secure cookie for an https ISSUER even behind a proxy not trusted for X-Forwarded-Proto', async () => {
  const behindProxy = await startTestGatehouse(storage, { ISSUER: 'https://sso.trust.example', TRUST_PROXY: 'false' });
  try {
    const response = await fetch(`${behindProxy.url}/language/cy?next=/password/forgot`, { redirect: 'manual' });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('/password/forgot');
    const cookie = response.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^gatehouse\.lang=cy\.\d+;/);
    expect(cookie).toMatch(/; secure/i);
    expect(cookie).not.toContain('gatehouse.lang.sig');
  } finally {
    await behindProxy.close();
  }
});

test('"Manage your account" names a school system only: never Account settings’ own client, never something that is not a client id', () => {
  expect(manageAccountLink('gh_abc-123')).toBe('/account?client_id=gh_abc-123');
  expect(manageAccountLink(ACCOUNT_CLIENT_ID)).toBe('/account');
  expect(manageAccountLink(['gh_abc'])).toBe('/account');
  expect(manageAccountLink('a b&c=d')).toBe('/account');
  expect(manageAccountLink(undefined)).toBe('/account');
});

test('the school of Account settings’ own client, or of a non-client-id, is nobody’s: the lookup is not even made', async () => {
  const asked: string[] = [];
  const access = { clientSchoolsName: async (id: string) => (asked.push(id), 'Ysgol Bro Teifi') } as unknown as AccessService;
  expect(await schoolNameOfClient(access, ACCOUNT_CLIENT_ID)).toBeUndefined();
  expect(await schoolNameOfClient(access, 'a\u0000b')).toBeUndefined();
  expect(await schoolNameOfClient(access, 'gh_abc')).toBe('Ysgol Bro Teifi');
  expect(asked).toEqual(['gh_abc']);
});
