import type { Browser, Page } from 'playwright-core';
import { hashPassword } from '../src/auth/passwords.ts';
import { launchChromium, scanQrCode } from './support/browser.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { startRelyingPartyApp } from './support/relying-party-app.ts';
import { codeFor } from './support/totp.ts';

let storage: TestStorage;
let gatehouse: TestGatehouse;
let schoolSystem: Awaited<ReturnType<typeof startRelyingPartyApp>>;
let browser: Browser;
let schoolId: string;
const PASSWORD = 'the heron waits by the river';

beforeAll(async () => {
  storage = await createTestStorage();
  gatehouse = await startTestGatehouse(storage);
  schoolSystem = await startRelyingPartyApp();
  const { services } = gatehouse;
  schoolId = (await services.schools.add({ name: 'Riverside High', postcode: 'RH1 2AB' })).id;
  const credentials = await services.clients.add({
    name: 'Riverside MIS',
    schoolIds: [schoolId],
    redirectUris: [schoolSystem.redirectUri],
  });
  await schoolSystem.connect(gatehouse.issuer, credentials);
  for (const email of ['head@riverside.example', 'deputy@riverside.example']) {
    const account = await services.accounts.addUser({ email, memberships: [{ schoolId, accessLevel: 'higher' }] });
    await services.repositories.accounts.setPasswordHash(account.id, await hashPassword(PASSWORD));
  }
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await schoolSystem?.close();
  await gatehouse?.close();
  await storage?.drop();
});

async function logIn(page: Page, email: string) {
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
}

/** Reads the QR code from the rendered image, as a phone camera would, and returns its secret. */
async function claimsAtClient(page: Page) {
  await page.locator('#welcome').waitFor();
  return JSON.parse((await page.locator('#claims').textContent()) ?? '{}');
}

test('enrol in Account settings, sign out, sign in again with the code, land with higher access', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${gatehouse.issuer}/account`);
  await logIn(page, 'head@riverside.example');
  await page.getByRole('heading', { name: 'Security keys' }).waitFor();
  await page.getByRole('link', { name: 'Add new device' }).click();

  const secret = await scanQrCode(page);
  expect((await page.locator('#manual-key').textContent())?.replace(/\s/g, '')).toBe(secret);
  await page.getByLabel('Name').fill('My phone');
  await page.getByLabel('Code').fill('123456' === codeFor(secret) ? '654321' : '123456');
  await page.getByRole('button', { name: 'Save this device' }).click();
  await page.getByText('That code is not right.').waitFor();
  expect(await scanQrCode(page)).toBe(secret);
  const enrolmentCode = codeFor(secret);
  await page.getByLabel('Code').fill(enrolmentCode);
  await page.getByRole('button', { name: 'Save this device' }).click();
  await page.getByText('Your new device is saved.').waitFor();
  await expect(page.getByRole('cell', { name: 'My phone', exact: true }).isVisible()).resolves.toBe(true);

  await page.getByRole('link', { name: 'Log out' }).click();
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('heading', { name: 'You have logged out' }).waitFor();

  await page.goto(`${schoolSystem.url}/login`);
  await logIn(page, 'head@riverside.example');
  await page.getByLabel('Code').waitFor();
  await page.getByLabel('Code').fill(enrolmentCode); // already used (or, a step later, too old)
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByText('That code is not right, or it has been used already.').waitFor();
  await page.getByLabel('Code').fill(codeFor(secret, 1));
  await page.getByRole('button', { name: 'Continue' }).click();
  expect(await claimsAtClient(page)).toMatchObject({
    school: { id: schoolId, name: 'Riverside High' },
    access_level: 'higher',
    acr: 'urn:gatehouse:acr:higher',
    amr: ['pwd', 'otp', 'mfa'],
  });
  await context.close();
});

test('a higher member’s first sign-in offers enrolment, and enrolling there gives higher access', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${schoolSystem.url}/login`);
  await logIn(page, 'deputy@riverside.example');
  await page.getByText('You have basic access only until you set up a passkey or an authenticator app.').waitFor();
  await page.getByRole('link', { name: 'Set up an authenticator app' }).click();
  const secret = await scanQrCode(page);
  await page.getByLabel('Name').fill('iPad');
  await page.getByLabel('Code').fill(codeFor(secret));
  await page.getByRole('button', { name: 'Save this device' }).click();
  expect(await claimsAtClient(page)).toMatchObject({ access_level: 'higher', acr: 'urn:gatehouse:acr:higher' });
  await context.close();
});
