import type { Browser } from 'playwright-core';
import { launchChromium } from './support/browser.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { startRelyingPartyApp } from './support/relying-party-app.ts';
import { linkIn, startSmtpServer } from './support/smtp.ts';
import { codeFor } from './support/totp.ts';

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

  // Asked from Meadow Lane's login page: the mail comes from Meadow Lane's sign-in.
  const mail = await smtp.waitFor('jo.bloggs@meadow.example', /^Set your password for Meadow Lane Primary$/);
  await page.goto(linkIn(mail));
  await page.getByLabel('New password', { exact: true }).fill('too short');
  await page.getByLabel('Type the new password again').fill('too short');
  await page.getByRole('button', { name: 'Set password' }).click();
  await page.getByText('Your password must be at least 15 characters long.').waitFor();

  await page.getByLabel('New password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Type the new password again').fill(PASSWORD);
  await page.getByRole('button', { name: 'Set password' }).click();
  await page.getByText('Your password has been set').waitFor();
  await smtp.waitFor('jo.bloggs@meadow.example', /^Your password for Meadow Lane Primary was changed$/);

  await page.getByRole('link', { name: 'Continue to log in' }).click();
  await page.getByText('Log in with your new password.').waitFor();
  // The address the password was just set for is filled in.
  await expect(page.getByLabel('Email address').inputValue()).resolves.toBe('jo.bloggs@meadow.example');
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

test('the first-time journey in Welsh: forgot, mail, reset with the school’s name, login with the address filled in, code', async () => {
  const { services } = gatehouse;
  // Cari has an authenticator already (set up with the helpdesk) but no password yet.
  const account = await services.accounts.addUser({
    email: 'cari.jones@meadow.example',
    name: 'Cari Jones',
    memberships: [{ schoolId, accessLevel: 'higher' }],
  });
  const device = await services.authenticators.beginEnrolment(account);
  await services.authenticators.completeEnrolment(account, device.enrolment, 'Ffôn', codeFor(device.manualKey), { ip: '127.0.0.1' });

  // An English-speaking browser: the school system's ui_locales decides the language.
  const context = await browser.newContext({ locale: 'en-GB' });
  const page = await context.newPage();
  const lang = () => page.getAttribute('html', 'lang');
  await page.goto(`${schoolSystem.url}/login?ui_locales=cy`);
  await expect(lang()).resolves.toBe('cy');
  await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Meadow Lane Primary');
  await expect(page.getByText('Mewngofnodi Sengl').isVisible()).resolves.toBe(true);
  await expect(page.getByLabel('Cyfrinair', { exact: true }).isVisible()).resolves.toBe(true);

  await page.getByRole('link', { name: 'Wedi anghofio’ch cyfrinair neu’n defnyddio SSO am y tro cyntaf?' }).click();
  await expect(lang()).resolves.toBe('cy');
  await page.getByLabel('Cyfeiriad e-bost').fill('cari.jones@meadow.example');
  await page.getByRole('button', { name: 'Anfon dolen ataf' }).click();
  await page.getByRole('heading', { name: 'Gwiriwch eich e-bost' }).waitFor();

  // The mail is in Welsh and names the school, and so do the pages its link opens.
  const mail = await smtp.waitFor('cari.jones@meadow.example', /^Gosodwch eich cyfrinair ar gyfer Meadow Lane Primary$/);
  await page.goto(linkIn(mail));
  await expect(lang()).resolves.toBe('cy');
  await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Meadow Lane Primary');
  await page.getByRole('heading', { name: 'Dewiswch eich cyfrinair' }).waitFor();
  await page.getByLabel('Cyfrinair newydd', { exact: true }).fill('rhy fyr');
  await page.getByLabel('Teipiwch y cyfrinair newydd eto').fill('rhy fyr');
  await page.getByRole('button', { name: 'Gosod cyfrinair' }).click();
  await page.getByText('Rhaid i’ch cyfrinair fod yn 15 nod o hyd o leiaf.').waitFor();
  await expect(lang()).resolves.toBe('cy');
  await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Meadow Lane Primary');

  const password = 'mae’r crëyr yn aros wrth yr afon';
  await page.getByLabel('Cyfrinair newydd', { exact: true }).fill(password);
  await page.getByLabel('Teipiwch y cyfrinair newydd eto').fill(password);
  await page.getByRole('button', { name: 'Gosod cyfrinair' }).click();
  await page.getByRole('heading', { name: 'Mae eich cyfrinair wedi’i osod' }).waitFor();
  await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Meadow Lane Primary');
  await smtp.waitFor('cari.jones@meadow.example', /^Newidiwyd eich cyfrinair ar gyfer Meadow Lane Primary$/);

  await page.getByRole('link', { name: 'Parhau i fewngofnodi' }).click();
  await page.getByText('Mae eich cyfrinair wedi’i osod. Mewngofnodwch gyda’ch cyfrinair newydd.').waitFor();
  await expect(lang()).resolves.toBe('cy');
  await expect(page.getByLabel('Cyfeiriad e-bost').inputValue()).resolves.toBe('cari.jones@meadow.example');
  await page.getByLabel('Cyfrinair', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Mewngofnodi', exact: true }).click();

  await page.getByRole('heading', { name: 'Rhowch eich cod' }).waitFor();
  await expect(lang()).resolves.toBe('cy');
  await expect(page.getByText('rhowch y cod 6 digid y mae’n ei ddangos ar gyfer Gatehouse.').isVisible()).resolves.toBe(true);
  await page.getByLabel('Cod', { exact: true }).fill(codeFor(device.manualKey, 1));
  await page.getByRole('button', { name: 'Parhau' }).click();
  await page.locator('#welcome').waitFor();
  const claims = JSON.parse((await page.locator('#claims').textContent()) ?? '{}');
  expect(claims).toMatchObject({ email: 'cari.jones@meadow.example', acr: 'urn:gatehouse:acr:higher' });
  // Her mails from now on are in Welsh too.
  expect((await services.accounts.findByEmail('cari.jones@meadow.example'))?.language).toBe('cy');
  await context.close();
}, 60_000);

test('show password: a button, only with the script, that shows the password while pressed and hides it before the form is sent', async () => {
  const page = await browser.newPage();
  await page.goto(`${schoolSystem.url}/login?ui_locales=cy`);
  const field = page.locator('#password');
  const button = page.locator('button.show-password[aria-controls="password"]');
  await expect(button.isVisible()).resolves.toBe(true);
  await expect(button.getAttribute('type')).resolves.toBe('button');
  const state = async () => ({
    type: await field.getAttribute('type'),
    pressed: await button.getAttribute('aria-pressed'),
    text: await button.textContent(),
  });
  expect(await state()).toEqual({ type: 'password', pressed: 'false', text: 'Dangos' });

  await field.fill('a phrase only I know');
  await button.click();
  expect(await state()).toEqual({ type: 'text', pressed: 'true', text: 'Cuddio' });
  await button.click();
  expect(await state()).toEqual({ type: 'password', pressed: 'false', text: 'Dangos' });

  // Shown, then sent: by the time the form goes, the field is a password field again (password managers look).
  await button.click();
  await page.evaluate(() => {
    const doc = (globalThis as unknown as { document: { addEventListener: Function; getElementById(id: string): { type: string } } })
      .document;
    doc.addEventListener('submit', (event: { preventDefault(): void }) => {
      (globalThis as unknown as { typeWhenSent: string }).typeWhenSent = doc.getElementById('password').type;
      event.preventDefault();
    });
  });
  await page.getByRole('button', { name: 'Mewngofnodi', exact: true }).click();
  await expect(page.evaluate(() => (globalThis as unknown as { typeWhenSent?: string }).typeWhenSent)).resolves.toBe('password');
  expect(await state()).toEqual({ type: 'password', pressed: 'false', text: 'Dangos' });
  await page.close();

  // Without the script there is no button, and the form works as before.
  const noScript = await browser.newContext({ javaScriptEnabled: false });
  const plain = await noScript.newPage();
  await plain.goto(`${schoolSystem.url}/login`);
  await expect(plain.locator('#password').getAttribute('type')).resolves.toBe('password');
  await expect(plain.locator('button.show-password').isVisible()).resolves.toBe(false);
  await noScript.close();
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
