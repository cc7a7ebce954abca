import type { Browser, Page } from 'playwright-core';
import { hashPassword } from '../src/auth/passwords.ts';
import { launchChromium, scanQrCode } from './support/browser.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { ageSessionsOf, startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { codeFor } from './support/totp.ts';

let storage: TestStorage;
let gatehouse: TestGatehouse;
let browser: Browser;
const PASSWORD = 'the heron waits by the river';
const EMAIL = 'head@riverside.example';

beforeAll(async () => {
  storage = await createTestStorage();
  gatehouse = await startTestGatehouse(storage);
  const { services } = gatehouse;
  const schoolId = (await services.schools.add({ name: 'Riverside High', postcode: 'RH1 2AB' })).id;
  const account = await services.accounts.addUser({ email: EMAIL, memberships: [{ schoolId, accessLevel: 'higher' }] });
  await services.repositories.accounts.setPasswordHash(account.id, await hashPassword(PASSWORD));
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await gatehouse?.close();
  await storage?.drop();
});

async function saveDevice(page: Page, name: string): Promise<string> {
  const secret = await scanQrCode(page);
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Code').fill(codeFor(secret));
  await page.getByRole('button', { name: 'Save this device' }).click();
  await page.getByText('Your new device is saved.').waitFor();
  return secret;
}

/** Ten minutes pass: the sign-in and every proof of this account's sessions are older than the window. */
async function leaveTheBrowserUnattended() {
  await ageSessionsOf(gatehouse, (await gatehouse.services.accounts.findByEmail(EMAIL))!.id);
}

test('a browser left signed in must confirm it is the owner (password and code) before changing devices', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${gatehouse.issuer}/account`);
  const keepSignedIn = page.getByLabel('Keep me signed in on this device');
  await expect(keepSignedIn.isChecked()).resolves.toBe(false);
  await page.getByLabel('Email address').fill(EMAIL);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Security keys' }).waitFor();
  const cookies = await context.cookies();
  expect(cookies.find((cookie) => cookie.name === '_session')?.expires).toBe(-1); // a browser-session cookie

  // Just signed in with the password: adding the first device needs nothing more.
  await page.getByRole('link', { name: 'Add new device' }).click();
  const phone = await saveDevice(page, 'Phone');

  await leaveTheBrowserUnattended();
  await page.getByRole('link', { name: 'Add new device' }).click();
  await page.getByRole('heading', { name: 'Confirm it’s you' }).waitFor();
  await expect(page.getByRole('img', { name: /QR code/ }).count()).resolves.toBe(0);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByLabel('Code').fill(codeFor(phone, 5));
  await page.getByRole('button', { name: 'Confirm' }).click();
  await page.getByText('That code is not right, or it has been used already.').waitFor();
  await expect(page.getByLabel('Code').getAttribute('aria-invalid')).resolves.toBe('true');

  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByLabel('Code').fill(codeFor(phone, 1));
  await page.getByRole('button', { name: 'Confirm' }).click();
  await page.getByRole('heading', { name: 'Add new device' }).waitFor();
  expect(new URL(page.url()).pathname).toBe('/account/security-keys/new');
  await saveDevice(page, 'Tablet');

  // Within the few minutes the proof lasts, removing is one more click.
  await page.getByRole('link', { name: 'Remove Phone' }).click();
  await page.getByRole('button', { name: 'Remove this device' }).click();
  await page.getByText('The device has been removed.').waitFor();
  await expect(page.getByRole('cell', { name: 'Phone', exact: true }).count()).resolves.toBe(0);

  // Later on, removing asks again.
  await leaveTheBrowserUnattended();
  await page.getByRole('link', { name: 'Remove Tablet' }).click();
  await page.getByRole('heading', { name: 'Confirm it’s you' }).waitFor();
  await context.close();
});
