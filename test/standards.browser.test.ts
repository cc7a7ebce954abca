import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { claimsAtSchoolSystem, expectAccessible, logIn } from './support/browser.ts';
import { useGatehouse } from './support/fixture.ts';
import { staff } from './support/scenario.ts';

/**
 * A school system on another site posts its authorization or logout request (OIDC Core §3.1.2.1,
 * RP-Initiated Logout §2) in real Chromium. The session cookie is SameSite=Lax, so the browser
 * leaves it off a cross-site POST: single sign-on and logout still find the session because
 * Gatehouse relays the POST once from its own origin.
 */
const world = useGatehouse({ client: 'school-system', browser: true });

/**
 * Another site (127.0.0.1, where Gatehouse is on localhost) with a page holding a form that posts
 * the given fields to Gatehouse: what a relying party that uses POST serves.
 */
let otherSite: { url: string; close: () => Promise<void> };
let form: { action: string; fields: Array<[string, string]> } = { action: '', fields: [] };
beforeAll(async () => {
  const server = http.createServer((_req, res) => {
    const inputs = form.fields.map(([name, value]) => `<input type="hidden" name="${name}" value="${value.replace(/"/g, '&quot;')}">`);
    res
      .writeHead(200, { 'content-type': 'text/html' })
      .end(
        `<!doctype html><title>School system</title><form method="post" action="${form.action}">${inputs.join('')}<button>Go</button></form>`,
      );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  otherSite = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
});
afterAll(() => otherSite?.close());

/** A new authorization request from the school system (its state and PKCE verifier kept there), as fields to post. */
async function authorizationFields(): Promise<Array<[string, string]>> {
  const answer = await fetch(`${world.schoolSystem.url}/login`, { redirect: 'manual' });
  return [...new URL(answer.headers.get('location')!).searchParams];
}

/** Signs in at the school system with GET, as any person would first. */
async function signInFirst(page: Page, email: string) {
  await staff(world, email, 'basic');
  await page.goto(`${world.schoolSystem.url}/login`);
  await logIn(page, email);
  expect((await claimsAtSchoolSystem(page)).email).toBe(email);
}

/** Posts `fields` to Gatehouse's `path` from the other site; returns every Gatehouse page the browser loaded. */
async function postFromOtherSite(page: Page, path: string, fields: Array<[string, string]>, submit = true): Promise<string[]> {
  form = { action: `${world.issuer}${path}`, fields };
  const seen: string[] = [];
  page.on('request', (request) => {
    if (request.isNavigationRequest() && request.url().startsWith(world.issuer))
      seen.push(`${request.method()} ${new URL(request.url()).pathname}`);
  });
  await page.goto(otherSite.url);
  if (submit) await page.getByRole('button', { name: 'Go' }).click();
  return seen;
}

async function sessionsOf(email: string): Promise<number> {
  const account = await world.services.repositories.accounts.findByEmail(email);
  const [{ count }] = await world.gatehouse.database.dataSource.query(
    `SELECT count(*)::int AS count FROM oidc_payloads WHERE model = 'Session' AND payload->>'accountId' = $1`,
    [account!.id],
  );
  return count;
}

test('a cross-site POST to /auth from a signed-in browser comes straight back with a code: no password asked', async () => {
  const context = await world.browser.newContext();
  const page = await context.newPage();
  await signInFirst(page, 'cross.post@riverside.example');
  // A field named "submit" (which oidc-provider ignores) must not hide the relay form's own submit().
  const seen = await postFromOtherSite(page, '/auth', [...(await authorizationFields()), ['submit', 'x']]);
  const claims = await claimsAtSchoolSystem(page);
  expect(claims.email).toBe('cross.post@riverside.example');
  expect(claims.school_id).toBe(world.schoolId);
  expect(seen.filter((request) => request.includes('/interaction/'))).toEqual([]);
  expect(seen.slice(0, 2)).toEqual(['POST /auth', 'POST /auth']);
  expect(await sessionsOf('cross.post@riverside.example')).toBe(1);
  await context.close();
});

test('when the relay script cannot run, the page says what to do, and Continue carries on with single sign-on', async () => {
  const context = await world.browser.newContext();
  const page = await context.newPage();
  await page.route('**/assets/relay.js', (route) => route.abort());
  await signInFirst(page, 'no.script@riverside.example');
  await postFromOtherSite(page, '/auth', await authorizationFields());
  await page.getByRole('heading', { name: 'One moment' }).waitFor();
  await expectAccessible(page);
  await page.getByRole('button', { name: 'Continue' }).click();
  expect((await claimsAtSchoolSystem(page)).email).toBe('no.script@riverside.example');
  await context.close();
});

test('a cross-site POST to /session/end logs out the session the browser has, not a new empty one', async () => {
  const context = await world.browser.newContext();
  const page = await context.newPage();
  await signInFirst(page, 'cross.logout@riverside.example');
  expect(await sessionsOf('cross.logout@riverside.example')).toBe(1);
  await postFromOtherSite(page, '/session/end', [['client_id', world.credentials.clientId]]);
  await page.locator('button[name=logout][value=yes]').click();
  await page.getByRole('heading', { name: /logged out/i }).waitFor();
  expect(await sessionsOf('cross.logout@riverside.example')).toBe(0);
  // And the next sign-in asks for the password again.
  await page.goto(`${world.schoolSystem.url}/login`);
  await page.getByLabel('Password', { exact: true }).waitFor();
  await context.close();
});
