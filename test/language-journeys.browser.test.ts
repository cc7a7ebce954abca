import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { Language } from '../src/i18n/languages.ts';
import { createWords } from '../src/i18n/words.ts';
import { axeViolations, launchChromium } from './support/browser.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { startRelyingPartyApp } from './support/relying-party-app.ts';
import { linkIn, startSmtpServer } from './support/smtp.ts';
import { decodeQrPng, parseOtpauth } from './support/totp.ts';
import { codeFor } from './support/totp.ts';

/**
 * Every journey a member of staff takes, in Welsh and in English, from a school system that asks
 * for the language with ui_locales: first-time password by email, sign-in, enrolment, Account
 * settings, log out, and the error and 404 pages. Each page state is checked at 320 and 1280 px:
 * `<html lang>`, its title from locales/, no WCAG 2.2 AA violation, no sideways scrolling.
 * SCREENSHOTS=dir keeps a picture of each page state.
 */

const HELPDESK = 'IT helpdesk 01970 123456';
const SCHOOL = { en: 'Penglais School', cy: 'Ysgol Penglais' } as const;
const words = createWords({ serviceName: 'Gatehouse', helpdeskContact: HELPDESK }, { strict: true });
const SHOTS = process.env.SCREENSHOTS;

let storage: TestStorage;
let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
let gatehouse: TestGatehouse;
let browser: Browser;
const systems = {} as Record<Language, Awaited<ReturnType<typeof startRelyingPartyApp>>>;

beforeAll(async () => {
  storage = await createTestStorage();
  smtp = await startSmtpServer();
  gatehouse = await startTestGatehouse(storage, { SMTP_URL: smtp.url, MAIL_FROM: 'sso@gatehouse.test', HELPDESK_CONTACT: HELPDESK });
  const { services } = gatehouse;
  for (const language of ['en', 'cy'] as const) {
    systems[language] = await startRelyingPartyApp();
    const { id } = await services.schools.add({ name: SCHOOL[language], postcode: 'SY23 3AS' });
    const credentials = await services.clients.add({
      name: `${SCHOOL[language]} MIS`,
      schoolIds: [id],
      redirectUris: [systems[language].redirectUri],
    });
    await systems[language].connect(gatehouse.issuer, credentials);
    await services.accounts.addUser({
      email: `athro.${language}@penglais.example`,
      memberships: [{ schoolId: id, accessLevel: 'higher' }],
    });
  }
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  for (const system of Object.values(systems)) await system.close();
  await gatehouse?.close();
  await smtp?.close();
  await storage?.drop();
});

/** One page state, checked as a person and a screen reader meet it, narrow and wide. */
async function check(page: Page, language: Language, view: string | null, shot: string) {
  expect(await page.getAttribute('html', 'lang')).toBe(language);
  if (view) expect(await page.title()).toMatch(new RegExp(`^${escapeRegExp(words.t(language, `titles.${view}`))} – `));
  for (const width of [320, 1280]) {
    await page.setViewportSize({ width, height: 900 });
    expect({ shot, width, violations: await axeViolations(page) }).toEqual({ shot, width, violations: [] });
    const scrollWidth = await page.evaluate(
      () => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth,
    );
    expect({ shot, width, scrollWidth: scrollWidth <= width }).toEqual({ shot, width, scrollWidth: true });
    if (SHOTS) {
      fs.mkdirSync(SHOTS, { recursive: true });
      await page.screenshot({ path: path.join(SHOTS, `${shot}-${language}-${width}.png`), fullPage: true });
    }
  }
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function secretFromQrCode(page: Page): Promise<string> {
  return parseOtpauth(decodeQrPng(await page.locator('img.qr').screenshot())).secret;
}

const submit = (page: Page) => page.locator('main form:not(.secondary) button[type=submit]').first().click();

for (const language of ['cy', 'en'] as const) {
  test(`the whole journey in ${language === 'cy' ? 'Welsh' : 'English'}: first password, sign-in, enrolment, Account settings, log out, errors`, async () => {
    const email = `athro.${language}@penglais.example`;
    const password = `${language} mae’r crëyr yn aros wrth yr afon`;
    // An English-speaking browser: the school system's ui_locales decides the language.
    const context = await browser.newContext({ locale: 'en-GB' });
    const page = await context.newPage();
    await page.goto(`${systems[language].url}/login?ui_locales=${language}`);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(SCHOOL[language]);
    await check(page, language, 'login', 'login');

    await page.locator('a[href$="/forgot"]').click();
    await check(page, language, 'forgot', 'forgot');
    await page.locator('#email').fill(email);
    await submit(page);
    await page.waitForURL(/\/forgot$/);
    await check(page, language, 'forgot-sent', 'forgot-sent');

    const mail = await smtp.waitFor(email, /./);
    expect(mail.subject).toContain(SCHOOL[language]);
    expect(mail.text).toContain(words.t(language, 'common.singleSignOn'));
    await page.goto(linkIn(mail));
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(SCHOOL[language]);
    await check(page, language, 'reset', 'reset');
    await page.locator('#password').fill(password);
    await page.locator('#confirm').fill(password);
    await submit(page);
    await check(page, language, 'reset-done', 'reset-done');

    await page.locator('a.button').click();
    await expect(page.locator('#email').inputValue()).resolves.toBe(email);
    await page.locator('#password').fill(password);
    await submit(page);
    // A higher member with no authenticator yet is offered one.
    await check(page, language, 'enrol-offer', 'enrol-offer');
    await page.locator('a.button').click();
    await check(page, language, 'enrol', 'enrol');
    const secret = await secretFromQrCode(page);
    await page.locator('#name').fill('Ffôn');
    await page.locator('#code').fill(codeFor(secret));
    await submit(page);
    await page.locator('#welcome').waitFor();
    expect(JSON.parse((await page.locator('#claims').textContent()) ?? '{}')).toMatchObject({ acr: 'urn:gatehouse:acr:higher' });

    // Account settings remembers the language the person signed in with, whatever the browser says.
    await page.goto(`${gatehouse.issuer}/account`);
    await check(page, language, 'security-keys', 'account');
    await expect(page.locator('table').textContent()).resolves.toContain('Ffôn');
    await page.locator('a[href="/account/schools"]').click();
    await check(page, language, 'schools', 'account-schools');

    await page.locator('a[href="/session/end"]').first().click();
    await check(page, language, 'logout', 'logout');
    await page.locator('button[name=logout][value=yes]').click();
    await check(page, language, 'logged-out', 'logged-out');

    // Errors: a school system that is not registered, and an address that does not exist.
    await page.goto(`${gatehouse.issuer}/auth?client_id=not-a-school-system&response_type=code&scope=openid&ui_locales=${language}`);
    await check(page, language, null, 'oauth-error');
    await expect(page.locator('main').textContent()).resolves.toContain(HELPDESK);
    await expect(page.locator('.detail').textContent()).resolves.toContain('invalid_client');
    await context.close();
    // Nothing asks for a language at an unknown address: the browser's Accept-Language does.
    const browsing = await browser.newContext({ locale: `${language}-GB` });
    const lost = await browsing.newPage();
    const missing = await lost.goto(`${gatehouse.issuer}/no-such-page`);
    expect(missing?.status()).toBe(404);
    await check(lost, language, null, 'not-found');
    await browsing.close();
  }, 120_000);
}

test('the language link switches a sign-in to the other language and is remembered', async () => {
  const context = await browser.newContext({ locale: 'en-GB' });
  const page = await context.newPage();
  await page.goto(`${systems.cy.url}/login?ui_locales=cy`);
  expect(await page.getAttribute('html', 'lang')).toBe('cy');
  await page.locator('nav.language a').click();
  expect(await page.getAttribute('html', 'lang')).toBe('en');
  await expect(page.locator('nav.language a').textContent()).resolves.toBe('Cymraeg');
  // Remembered for pages outside the sign-in too.
  await page.goto(`${gatehouse.issuer}/password/forgot`);
  expect(await page.getAttribute('html', 'lang')).toBe('en');
  await page.locator('nav.language a').click();
  expect(await page.getAttribute('html', 'lang')).toBe('cy');
  await context.close();
});
