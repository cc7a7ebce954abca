import crypto from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { hashPassword } from '../src/auth/passwords.ts';
import { axeViolations, launchChromium } from './support/browser.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { codeFor } from './support/totp.ts';

/**
 * In Chromium: Account settings opened from a school's system carry its school's name through
 * the sign-in and every tab, with device times in UK time; the language link turns the pages,
 * the logout and the logged-out page Welsh; the 404 and OAuth error pages follow, in plain words
 * with the helpdesk, the code only in small print. No WCAG 2.2 AA violation on the way.
 */

const HELPDESK = 'Desg gymorth TG 01970 123456';
const SECRET = 'PE2XQOK6OZIFISKUKUQTAUBVIZIWGJCT';
const PASSWORD = 'the heron waits by the river';
const EMAIL = 'pennaeth@penweddig.example';

let storage: TestStorage;
let gatehouse: TestGatehouse;
let browser: Browser;
let clientId: string;

beforeAll(async () => {
  storage = await createTestStorage();
  gatehouse = await startTestGatehouse(storage, { HELPDESK_CONTACT: HELPDESK });
  const { services } = gatehouse;
  const school = await services.schools.add({ name: 'Ysgol Penweddig', postcode: 'SY23 3QN' });
  ({ clientId } = await services.clients.add({
    name: 'Penweddig MIS',
    schoolIds: [school.id],
    redirectUris: ['https://mis.penweddig.example/cb'],
  }));
  const account = await services.accounts.addUser({ email: EMAIL, memberships: [{ schoolId: school.id, accessLevel: 'higher' }] });
  await services.repositories.accounts.setPasswordHash(account.id, await hashPassword(PASSWORD));
  const id = crypto.randomUUID();
  await services.repositories.authenticators.insert({
    id,
    accountId: account.id,
    name: 'Ffôn',
    secretSealed: services.box.seal(SECRET, `totp:${id}`),
    step: 0,
  });
  await gatehouse.database.dataSource.query(`UPDATE authenticator_devices SET created_at = '2026-07-01T12:00:00Z' WHERE id = $1`, [id]);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await gatehouse?.close();
  await storage?.drop();
});

async function accessible(page: Page) {
  expect({ url: page.url(), violations: await axeViolations(page) }).toEqual({ url: page.url(), violations: [] });
}

const school = (page: Page) => page.locator('h1.school').textContent();

test('Account settings from a school system, then Welsh, log out, 404 and an OAuth error', async () => {
  const context = await browser.newContext({ locale: 'en-GB', timezoneId: 'America/New_York' });
  const page = await context.newPage();
  await page.goto(`${gatehouse.issuer}/account?client_id=${clientId}`);
  await expect(school(page)).resolves.toBe('Ysgol Penweddig');
  await page.locator('#email').fill(EMAIL);
  await page.locator('#password').fill(PASSWORD);
  await page.locator('main form button[type=submit]').first().click();
  await page.locator('#code').fill(codeFor(SECRET));
  await page.locator('main form button[type=submit]').first().click();

  await page.getByRole('heading', { name: 'Security keys' }).waitFor();
  await expect(school(page)).resolves.toBe('Ysgol Penweddig');
  // UK time whatever the browser's zone: 12:00 UTC on 1 July is 13:00 British Summer Time.
  await expect(page.getByRole('row', { name: /Ffôn/ }).textContent()).resolves.toContain('1 Jul 2026, 13:00');
  await accessible(page);
  await page.getByRole('link', { name: 'Schools' }).click();
  await page.getByRole('heading', { name: 'Your schools' }).waitFor();
  await expect(school(page)).resolves.toBe('Ysgol Penweddig');

  await page.getByRole('link', { name: 'Cymraeg' }).click();
  await page.getByRole('heading', { name: 'Eich ysgolion' }).waitFor();
  expect(await page.getAttribute('html', 'lang')).toBe('cy');
  await page.getByRole('link', { name: 'Allweddi diogelwch' }).click();
  await expect(page.getByRole('row', { name: /Ffôn/ }).textContent()).resolves.toContain('1 Gorff 2026, 13:00');
  await expect(school(page)).resolves.toBe('Ysgol Penweddig');

  await page.getByRole('link', { name: 'Allgofnodi' }).click();
  await page.getByRole('heading', { name: 'Allgofnodi' }).waitFor();
  expect(await page.getAttribute('html', 'lang')).toBe('cy');
  await accessible(page);
  await page.getByRole('button', { name: 'Allgofnodi o Gatehouse' }).click();
  await page.getByRole('heading', { name: 'Rydych wedi allgofnodi' }).waitFor();
  expect(await page.getAttribute('html', 'lang')).toBe('cy');
  await accessible(page);

  const missing = await page.goto(`${gatehouse.issuer}/dim-tudalen`);
  expect(missing?.status()).toBe(404);
  await page.getByRole('heading', { name: 'Heb ddod o hyd i’r dudalen' }).waitFor();
  await expect(page.locator('main').textContent()).resolves.toContain(HELPDESK);
  await accessible(page);
  await page.getByRole('link', { name: 'English' }).click();
  await page.getByRole('heading', { name: 'Page not found' }).waitFor();
  expect(page.url()).toBe(`${gatehouse.issuer}/dim-tudalen`);

  // A school system asking to come back to an address it never registered.
  await page.goto(
    `${gatehouse.issuer}/auth?client_id=${clientId}&response_type=code&scope=openid&redirect_uri=https://evil.example/cb&ui_locales=cy`,
  );
  await page.getByRole('heading', { name: 'Nid yw’r system ysgol hon wedi’i gosod yn gywir' }).waitFor();
  await expect(school(page)).resolves.toBe('Ysgol Penweddig');
  await expect(page.locator('main').textContent()).resolves.toContain(HELPDESK);
  await expect(page.locator('main small').textContent()).resolves.toContain('invalid_redirect_uri');
  expect((await page.locator('main h2, main [role=alert]').allTextContents()).join(' ')).not.toContain('invalid_');
  await accessible(page);
  await context.close();
}, 60_000);
