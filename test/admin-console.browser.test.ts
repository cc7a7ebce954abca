import type { Browser, Page } from 'playwright-core';
import { operatorAuthority } from '../src/admin/authority.ts';
import { axeViolations, launchChromium, scanQrCode } from './support/browser.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { startRelyingPartyApp } from './support/relying-party-app.ts';
import { addStaff, PASSWORD } from './support/scenario.ts';
import { startSmtpServer } from './support/smtp.ts';
import { codeFor } from './support/totp.ts';

/**
 * The console at /admin in Chromium, as the helpdesk and as a school administrator: sign-in with
 * higher access (enrolment first), delegation enforced, a leaver refused at their next sign-in,
 * and every page state checked with axe for WCAG 2.2 AA.
 */
let storage: TestStorage;
let gatehouse: TestGatehouse;
let browser: Browser;
let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
let oakSystem: Awaited<ReturnType<typeof startRelyingPartyApp>>;
let oakId: string;
let elmId: string;
const operator = operatorAuthority('test');

beforeAll(async () => {
  storage = await createTestStorage();
  smtp = await startSmtpServer();
  gatehouse = await startTestGatehouse(storage, { SMTP_URL: smtp.url });
  const { services } = gatehouse;
  oakId = (await services.schools.add({ name: 'Oak Primary', postcode: 'OK1 1AA' })).id;
  elmId = (await services.schools.add({ name: 'Elm Academy', postcode: 'EL1 1AA' })).id;
  oakSystem = await startRelyingPartyApp();
  const oakClient = await services.clients.add({ name: 'Oak MIS', schoolIds: [oakId], redirectUris: [oakSystem.redirectUri] });
  await oakSystem.connect(gatehouse.issuer, oakClient);
  await addStaff(services, 'helpdesk@trust.example', [{ schoolId: elmId, accessLevel: 'basic' }]);
  await services.admin.roles.grant(operator, { subject: { email: 'helpdesk@trust.example' }, role: 'helpdesk' });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await oakSystem?.close();
  await gatehouse?.close();
  await smtp?.close();
  await storage?.drop();
});

async function expectAccessible(page: Page) {
  expect({ url: page.url(), violations: await axeViolations(page) }).toEqual({ url: page.url(), violations: [] });
}

/** Signs in at /admin: password, then (no device yet) the enrolment that higher access needs. */
async function signInToConsole(page: Page, email: string): Promise<void> {
  await page.goto(`${gatehouse.issuer}/admin`);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Add new device' }).waitFor();
  const secret = await scanQrCode(page);
  await page.getByLabel('Name').fill('Phone');
  await page.getByLabel('Code').fill(codeFor(secret));
  await page.getByRole('button', { name: 'Save this device' }).click();
}

test('the helpdesk: schools, staff, a school administrator, lock with a reason, the audit trail and its CSV', async () => {
  const page = await (await browser.newContext({ acceptDownloads: true })).newPage();
  await signInToConsole(page, 'helpdesk@trust.example');
  await page.getByRole('heading', { name: 'Schools' }).waitFor();
  expect(new URL(page.url()).pathname).toBe('/admin/schools');
  await expectAccessible(page);

  await page.getByRole('link', { name: 'Oak Primary' }).click();
  await page.getByRole('heading', { name: /Oak Primary/ }).waitFor();
  await expectAccessible(page);

  // A bad address is said next to the field, and nothing is written.
  await page.getByLabel('Email address').fill('not an address');
  await page.getByRole('button', { name: 'Add member of staff' }).click();
  await page.getByText('Must be an email address').waitFor();
  await expect(page.getByLabel('Email address').getAttribute('aria-invalid')).resolves.toBe('true');
  await expectAccessible(page);

  await page.getByLabel('Email address').fill('head@oak.example');
  await page.getByLabel('Name', { exact: true }).fill('Hazel Head');
  await page.getByLabel('Higher (needs an authenticator to use it)').check();
  await page.getByRole('button', { name: 'Add member of staff' }).click();
  await page.getByRole('heading', { name: 'Hazel Head' }).waitFor();
  await page.getByText(/Added\. A first-time email/).waitFor();
  await smtp.waitFor('head@oak.example', /password/i);
  await expectAccessible(page);
  await page.getByRole('button', { name: 'Make them an administrator of Oak Primary' }).click();
  await page.getByText('They are now an administrator of this school.').waitFor();

  await page.getByRole('link', { name: 'More about this person' }).click();
  await page.getByRole('heading', { name: 'Hazel Head' }).waitFor();
  await expectAccessible(page);
  await page.getByLabel('Reason', { exact: true }).fill('');
  await page.getByRole('button', { name: 'Remove every device' }).click();
  await page
    .getByText(/Must not be empty|Required|Invalid/)
    .first()
    .waitFor();
  await page.getByLabel('Reason (for the audit trail)').fill('Checking the lock works');
  await page.getByRole('button', { name: 'Lock' }).click();
  await page.getByText('The account is locked: every session and token has ended.').waitFor();
  await page.getByLabel('Reason (for the audit trail)').fill('Done checking');
  await page.getByRole('button', { name: 'Unlock' }).click();
  await page.getByText('The account is unlocked.').waitFor();

  await page.getByRole('link', { name: 'Audit' }).click();
  await page.getByLabel('Event').fill('admin.user.lock');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.getByRole('cell', { name: 'admin.user.lock' }).waitFor();
  await expect(page.getByRole('cell', { name: /By helpdesk@trust\.example/ }).count()).resolves.toBe(1);
  await expectAccessible(page);
  const download = page.waitForEvent('download');
  await page.getByRole('link', { name: 'Download these events as CSV' }).click();
  const csv = await (await (await download).createReadStream()).toArray();
  const text = Buffer.concat(csv).toString('utf8');
  expect(text.split('\r\n')[0]).toBe('at,event,outcome,reason,email,accountId,schoolId,clientId,ip,detail');
  expect(text).toContain('"admin.user.lock","success"');
  expect(text).toContain('Checking the lock works');
  expect(text).not.toContain('admin.user.unlock');

  await page.getByRole('link', { name: 'Roles' }).click();
  await page.getByRole('cell', { name: 'head@oak.example', exact: true }).waitFor();
  await expectAccessible(page);
}, 120_000);

test('a school administrator: only their school; a leaver is refused at their next sign-in; no role, no console', async () => {
  const { services } = gatehouse;
  const head = await addStaff(services, 'deputy@oak.example', [{ schoolId: oakId, accessLevel: 'higher' }]);
  await services.admin.roles.grant(operator, { subject: { email: head.email }, role: 'school-admin', schoolId: oakId });
  const onlyElm = await addStaff(services, 'only@elm.example', [{ schoolId: elmId, accessLevel: 'basic' }]);
  await addStaff(services, 'leaver@oak.example', [{ schoolId: oakId, accessLevel: 'basic' }]);

  // The leaver is signed in to Oak's school system.
  const leaver = await (await browser.newContext()).newPage();
  await leaver.goto(`${oakSystem.url}/login`);
  await leaver.getByLabel('Email address').fill('leaver@oak.example');
  await leaver.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await leaver.getByRole('button', { name: 'Log in' }).click();
  await leaver.locator('#welcome').waitFor();

  const page = await (await browser.newContext()).newPage();
  await signInToConsole(page, 'deputy@oak.example');
  await page.getByRole('heading', { name: 'Schools' }).waitFor();
  await expect(page.getByRole('link', { name: 'Oak Primary' }).count()).resolves.toBe(1);
  await expect(page.getByRole('link', { name: 'Elm Academy' }).count()).resolves.toBe(0);
  await expect(page.getByRole('link', { name: 'Clients' }).count()).resolves.toBe(0);
  await expect(page.getByRole('link', { name: 'Roles' }).count()).resolves.toBe(0);
  await expect(page.getByRole('heading', { name: 'Add a school' }).count()).resolves.toBe(0);

  const elsewhere = await page.goto(`${gatehouse.issuer}/admin/schools/${elmId}`);
  expect(elsewhere?.status()).toBe(403);
  await expectAccessible(page);
  expect((await page.goto(`${gatehouse.issuer}/admin/people/${onlyElm.id}`))?.status()).toBe(404);
  expect((await page.goto(`${gatehouse.issuer}/admin/roles`))?.status()).toBe(403);
  // Each refused look is in the audit trail, naming who looked.
  const refused: Array<{ what: string }> = await gatehouse.database.dataSource.query(
    `SELECT detail->>'what' AS what FROM audit_events WHERE event = 'admin.read' AND detail->'actor'->>'email' = $1 ORDER BY id`,
    [head.email],
  );
  expect(refused.map((row) => row.what)).toEqual([`GET /admin/schools/${elmId}`, 'GET /admin/roles']);

  await page.goto(`${gatehouse.issuer}/admin/schools/${oakId}`);
  await page.getByRole('link', { name: 'Sam Teacher' }).first().waitFor();
  await page.getByLabel('Search staff by name or email').fill('leaver');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('cell', { name: 'leaver@oak.example' }).waitFor();
  await page.getByRole('link', { name: 'Sam Teacher' }).click();
  await expect(page.getByRole('heading', { name: 'Reset authenticator' }).count()).resolves.toBe(0);
  await page.getByRole('link', { name: 'Remove from Oak Primary' }).click();
  await expectAccessible(page);
  await page.getByRole('button', { name: 'Remove from Oak Primary' }).click();
  await page.getByText(/Removed\. Their sign-ins to this school have ended/).waitFor();

  // The leaver's live session no longer reaches Oak: the next sign-in there is refused.
  await leaver.goto(`${oakSystem.url}/login`);
  await leaver.getByRole('heading', { name: 'No access' }).waitFor();

  // Signed in, but with no role: a 403 page, not the console.
  const response = await leaver.goto(`${gatehouse.issuer}/admin`);
  await leaver.getByRole('heading', { name: /Add new device|No access to administration/ }).waitFor();
  if (await leaver.getByRole('heading', { name: 'Add new device' }).count()) {
    const secret = await scanQrCode(leaver);
    await leaver.getByLabel('Name').fill('Phone');
    await leaver.getByLabel('Code').fill(codeFor(secret));
    await leaver.getByRole('button', { name: 'Save this device' }).click();
  } else {
    expect(response?.status()).toBe(403);
  }
  await leaver.getByRole('heading', { name: 'No access to administration' }).waitFor();
  await expectAccessible(leaver);
}, 120_000);
