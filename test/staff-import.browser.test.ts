import type { Browser, Page } from 'playwright-core';
import { operatorAuthority } from '../src/admin/authority.ts';
import { axeViolations, launchChromium, scanQrCode } from './support/browser.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { addStaff, PASSWORD } from './support/scenario.ts';
import { startSmtpServer } from './support/smtp.ts';
import { codeFor } from './support/totp.ts';

/**
 * The console's staff import in Chromium. The pages carry no script: the file input works as a
 * plain multipart form, the preview shows the problems by line and offers no import until they
 * are corrected, then the import and its notice. Every state checked with axe (WCAG 2.2 AA).
 */
let storage: TestStorage;
let gatehouse: TestGatehouse;
let browser: Browser;
let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
let oakId: string;

beforeAll(async () => {
  storage = await createTestStorage();
  smtp = await startSmtpServer();
  gatehouse = await startTestGatehouse(storage, { SMTP_URL: smtp.url });
  const { services } = gatehouse;
  oakId = (await services.schools.add({ name: 'Oak Primary', postcode: 'OK1 1AA' })).id;
  await addStaff(services, 'office@oak.example', [{ schoolId: oakId, accessLevel: 'basic' }]);
  await addStaff(services, 'kept@oak.example', [{ schoolId: oakId, accessLevel: 'basic' }]);
  await services.admin.roles.grant(operatorAuthority('test'), {
    subject: { email: 'office@oak.example' },
    role: 'school-admin',
    schoolId: oakId,
  });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await gatehouse?.close();
  await smtp?.close();
  await storage?.drop();
});

async function expectAccessible(page: Page) {
  expect({ url: page.url(), violations: await axeViolations(page) }).toEqual({ url: page.url(), violations: [] });
}

test('a school administrator imports staff from a CSV file', async () => {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${gatehouse.issuer}/admin/schools/${oakId}/import`);
  await page.getByLabel('Email address').fill('office@oak.example');
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Add new device' }).waitFor();
  const secret = await scanQrCode(page);
  await page.getByLabel('Name').fill('Phone');
  await page.getByLabel('Code').fill(codeFor(secret));
  await page.getByRole('button', { name: 'Save this device' }).click();

  await page.getByRole('heading', { name: 'Import staff into Oak Primary' }).waitFor();
  await expectAccessible(page);
  const file = 'email,name,level\r\nnew.teacher@oak.example,"Teacher, New",higher\r\nkept@oak.example,,basic\r\nbob@,Bob,basic\r\n';
  await page.getByLabel('CSV file').setInputFiles({ name: 'staff.csv', mimeType: 'text/csv', buffer: Buffer.from(`\uFEFF${file}`) });
  await page.getByRole('button', { name: 'Check the import' }).click();

  await page.getByText('line 4: “bob@” is not an email address').waitFor();
  await expect(page.getByRole('button', { name: /^Import/ }).count()).resolves.toBe(0);
  await page.getByText('The import cannot be done until the problems above are corrected.').waitFor();
  await page.getByRole('table', { name: /To be added to the staff/ }).waitFor();
  await expectAccessible(page);
  expect(await gatehouse.services.repositories.accounts.findByEmail('new.teacher@oak.example')).toBeNull();

  await page.getByLabel('The list').fill(file.replace('bob@,', 'bob@oak.example,'));
  await page.getByRole('button', { name: 'Check the import again' }).click();
  await page.getByRole('table', { name: 'To be added to the staff (2 people)' }).waitFor();
  await page
    .getByRole('table', { name: /Already on the staff at this level/ })
    .getByRole('cell', { name: 'kept@oak.example' })
    .waitFor();
  await expectAccessible(page);
  await page.getByRole('button', { name: 'Import: add 2 people, change 0 people' }).click();

  await page
    .getByText(/Imported: 2 people added, 0 levels changed, 1 person already on the staff at that level\. 2 first-time emails sent\./)
    .waitFor();
  expect(new URL(page.url()).pathname).toBe(`/admin/schools/${oakId}`);
  await page.getByRole('link', { name: 'Teacher, New' }).waitFor();
  await smtp.waitFor('new.teacher@oak.example', /password/i);
  await expectAccessible(page);
});
