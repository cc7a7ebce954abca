import type { Browser } from 'playwright-core';
import { launchChromium } from './support/browser.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { startRelyingPartyApp } from './support/relying-party-app.ts';
import { linkIn, startSmtpServer } from './support/smtp.ts';

let storage: TestStorage;
let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
let gatehouse: TestGatehouse;
let schoolSystem: Awaited<ReturnType<typeof startRelyingPartyApp>>;
let browser: Browser;
let schoolId: string;

const PASSWORD = 'marmalade on toast every friday';

beforeAll(async () => {
  storage = await createTestStorage();
  smtp = await startSmtpServer();
  gatehouse = await startTestGatehouse(storage, { SMTP_URL: smtp.url });
  schoolSystem = await startRelyingPartyApp();
  const { services } = gatehouse;
  schoolId = (await services.schools.add({ name: 'Meadow Lane Primary', postcode: 'ML1 4RT' })).id;
  const credentials = await services.clients.add({ name: 'Meadow MIS', schoolIds: [schoolId], redirectUris: [schoolSystem.redirectUri] });
  await schoolSystem.connect(gatehouse.issuer, credentials);
  await services.accounts.addUser({
    email: 'jo.bloggs@meadow.example',
    name: 'Jo Bloggs',
    memberships: [{ schoolId, accessLevel: 'basic' }],
  });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await schoolSystem?.close();
  await gatehouse?.close();
  await smtp?.close();
  await storage?.drop();
});

test('a member of staff signs in for the first time through the forgotten-password email', async () => {
  const page = await browser.newPage();
  await page.goto(`${schoolSystem.url}/login`);

  await expect(page.getByRole('heading', { name: 'Meadow Lane Primary' }).isVisible()).resolves.toBe(true);
  await expect(page.getByText('Single Sign-On').isVisible()).resolves.toBe(true);
  await expect(page.getByLabel('Email address').isVisible()).resolves.toBe(true);
  await expect(page.getByLabel('Password', { exact: true }).isVisible()).resolves.toBe(true);

  await page.getByRole('link', { name: 'Forgotten your password or using SSO for the first time?' }).click();
  await page.getByLabel('Email address').fill('jo.bloggs@meadow.example');
  await page.getByRole('button', { name: 'Email me a link' }).click();
  await page.getByText('Check your email').waitFor();

  const mail = await smtp.waitFor('jo.bloggs@meadow.example', /Set your Gatehouse password/);
  await page.goto(linkIn(mail));
  await page.getByLabel('New password', { exact: true }).fill('too short');
  await page.getByLabel('Type the new password again').fill('too short');
  await page.getByRole('button', { name: 'Set password' }).click();
  await page.getByText('Your password must be at least 15 characters long.').waitFor();

  await page.getByLabel('New password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Type the new password again').fill(PASSWORD);
  await page.getByRole('button', { name: 'Set password' }).click();
  await page.getByText('Your password has been set').waitFor();
  await smtp.waitFor('jo.bloggs@meadow.example', /password was changed/);

  await page.getByRole('link', { name: 'Continue to log in' }).click();
  await page.getByText('Log in with your new password.').waitFor();
  await page.getByLabel('Email address').fill('jo.bloggs@meadow.example');
  await page.getByLabel('Password', { exact: true }).fill('the wrong password entirely');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByText('The email address or password is not right.').waitFor();

  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('#welcome').waitFor();
  expect(new URL(page.url()).pathname).toBe('/callback');
  const claims = JSON.parse((await page.locator('#claims').textContent()) ?? '{}');
  expect(claims).toMatchObject({
    email: 'jo.bloggs@meadow.example',
    school: { id: schoolId, name: 'Meadow Lane Primary', postcode: 'ML1 4RT' },
    access_level: 'basic',
    acr: 'urn:gatehouse:acr:basic',
    amr: ['pwd'],
  });
  await page.close();
});

test('the hosted pages load no inline script and refuse to be framed', async () => {
  const page = await browser.newPage();
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  });
  const response = await page.goto(`${schoolSystem.url}/login`);
  const headers = response!.headers();
  expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
  expect(headers['content-security-policy']).not.toContain('unsafe-inline');
  await page.getByLabel('Email address').waitFor();
  expect(violations).toEqual([]);
  await page.close();
});
