import type { Browser, Page } from 'playwright-core';
import { hashPassword } from '../src/auth/passwords.ts';
import { startExampleSchoolSystem } from '../examples/school-system/app.ts';
import { launchChromium } from './support/browser.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { freePort, startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { codeFor, decodeQrPng, parseOtpauth } from './support/totp.ts';

let storage: TestStorage;
let gatehouse: TestGatehouse;
let browser: Browser;
const systems: Array<Awaited<ReturnType<typeof startExampleSchoolSystem>>> = [];
const PASSWORD = 'lanterns along the canal path';

beforeAll(async () => {
  storage = await createTestStorage();
  gatehouse = await startTestGatehouse(storage);
  const { services } = gatehouse;
  const memberships = [];
  for (const [name, level] of [
    ['Hill Primary School', 'basic'],
    ['Oak Academy', 'higher'],
  ] as const) {
    const { id } = await services.schools.add({ name, postcode: 'AB1 2CD' });
    memberships.push({ schoolId: id, accessLevel: level });
    const port = await freePort();
    const base = `http://localhost:${port}`;
    const credentials = await services.clients.add({
      name: `${name} MIS`,
      schoolIds: [id],
      redirectUris: [`${base}/callback`],
      postLogoutRedirectUris: [`${base}/`],
      initiateLoginUri: `${base}/initiate-login`,
    });
    systems.push(await startExampleSchoolSystem({ issuer: gatehouse.issuer, ...credentials, title: `${name} MIS`, port }));
  }
  const account = await services.accounts.addUser({ email: 'sam@trust.example', name: 'Sam Teacher', memberships });
  await services.repositories.accounts.setPasswordHash(account.id, await hashPassword(PASSWORD));
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await Promise.all(systems.map((system) => system.close()));
  await gatehouse?.close();
  await storage?.drop();
});

const schoolOn = async (page: Page) => ({
  school: await page.locator('#school').textContent(),
  level: await page.locator('#access-level').textContent(),
});

test('sign in at school A, move to B without a password, switch back, step up at B', async () => {
  const [hillMis, oakMis] = systems;
  const page = await browser.newPage();

  await page.goto(hillMis!.url);
  await page.getByRole('link', { name: 'Sign in with Gatehouse' }).click();
  await page.getByRole('heading', { name: 'Hill Primary School' }).waitFor();
  await page.getByLabel('Email address').fill('sam@trust.example');
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('#school').waitFor();
  expect(await schoolOn(page)).toEqual({ school: 'Hill Primary School', level: 'basic' });

  // The drop-down comes from the schools claim; B's login_uri starts a sign-in there.
  await page.getByLabel('Switch school').selectOption({ label: 'Oak Academy' });
  await page.getByRole('button', { name: 'Switch' }).click();
  await page.waitForURL(`${oakMis!.url}/`);
  expect(await schoolOn(page)).toEqual({ school: 'Oak Academy', level: 'basic' });

  await page.getByLabel('Switch school').selectOption({ label: 'Hill Primary School' });
  await page.getByRole('button', { name: 'Switch' }).click();
  await page.waitForURL(`${hillMis!.url}/`);
  expect(await schoolOn(page)).toEqual({ school: 'Hill Primary School', level: 'basic' });

  // Step-up at B: Reports needs higher access; with no device yet, Gatehouse enrols one.
  await page.goto(`${oakMis!.url}/reports`);
  await page.getByRole('heading', { name: 'Add new device' }).waitFor();
  const secret = parseOtpauth(decodeQrPng(await page.getByRole('img', { name: /QR code/ }).screenshot())).secret;
  await page.getByLabel('Name').fill('Phone');
  await page.getByLabel('Code').fill(codeFor(secret));
  await page.getByRole('button', { name: 'Save this device' }).click();
  await page.locator('#reports').waitFor();
  expect(await page.textContent('main')).toContain('Higher access at Oak Academy');

  // A later step-up in a session without a code asks for the code itself.
  const other = await browser.newPage();
  await other.goto(`${oakMis!.url}/reports`);
  await other.getByLabel('Email address').fill('sam@trust.example');
  await other.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await other.getByRole('button', { name: 'Log in' }).click();
  await other.getByLabel('Code').fill(codeFor(secret, 1));
  await other.getByRole('button', { name: 'Continue' }).click();
  await other.locator('#reports').waitFor();
  await page.close();
  await other.close();
});
