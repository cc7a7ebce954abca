import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { operatorAuthority } from '../src/admin/authority.ts';
import { LANGUAGE_COOKIE } from '../src/http/language.ts';
import { launchChromium } from './support/browser.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { ROOT } from './support/process.ts';
import { startRelyingPartyApp } from './support/relying-party-app.ts';
import { addStaff, PASSWORD } from './support/scenario.ts';
import { codeFor, decodeQrPng, parseOtpauth } from './support/totp.ts';

/**
 * A 320 px phone (WCAG 1.4.10 Reflow), in English and Welsh: no page scrolls sideways, even with
 * long school names, email addresses and client ids in the console's and Account settings' tables;
 * words are never broken mid-word (no `overflow-wrap: anywhere`); buttons are in the text's font;
 * radios and checkboxes are at least 24 px (WCAG 2.5.8 target size).
 */
const LONG_SCHOOL = 'Ysgol Gynradd Gymraeg Llanfairpwllgwyngyll a Phentref Bodorgan';
/** One helpdesk person for each language's walk: each adds a device on the way. */
const helpdeskEmail = (language: string) => `helpdesk.${language}.person.with.a.long.name@a-multi-academy-trust-with-a-long-domain.example`;
const DEVICE = 'Ffôn symudol yr adran wyddoniaeth';

let storage: TestStorage;
let gatehouse: TestGatehouse;
let browser: Browser;
let system: Awaited<ReturnType<typeof startRelyingPartyApp>>;
let schoolId: string;
let clientId: string;

beforeAll(async () => {
  storage = await createTestStorage();
  gatehouse = await startTestGatehouse(storage);
  const { services } = gatehouse;
  schoolId = (await services.schools.add({ name: LONG_SCHOOL, postcode: 'LL61 5UJ' })).id;
  const other = (await services.schools.add({ name: 'Hill Primary School', postcode: 'HP1 1AA' })).id;
  system = await startRelyingPartyApp();
  const credentials = await services.clients.add({
    name: `${LONG_SCHOOL} MIS`,
    schoolIds: [schoolId, other],
    redirectUris: [system.redirectUri],
  });
  clientId = credentials.clientId;
  await system.connect(gatehouse.issuer, credentials);
  const memberships = [
    { schoolId, accessLevel: 'basic' as const },
    { schoolId: other, accessLevel: 'basic' as const },
  ];
  for (const language of ['en', 'cy']) {
    await addStaff(services, helpdeskEmail(language), memberships);
    await services.admin.roles.grant(operatorAuthority('test'), { subject: { email: helpdeskEmail(language) }, role: 'helpdesk' });
  }
  await addStaff(services, 'a.teacher.with.an.even.longer.address.than.usual@llanfairpwllgwyngyll.sch.example', memberships);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await system?.close();
  await gatehouse?.close();
  await storage?.drop();
});

type Window = { document: { documentElement: { scrollWidth: number } } };

/** At 320 px the page fits: nothing wider than the screen, so nothing scrolls sideways. SCREENSHOTS=dir keeps pictures. */
async function fits(page: Page, language: string): Promise<void> {
  await page.setViewportSize({ width: 320, height: 800 });
  if (process.env.SCREENSHOTS) {
    fs.mkdirSync(process.env.SCREENSHOTS, { recursive: true });
    const name = new URL(page.url()).pathname.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '') || 'home';
    await page.screenshot({ path: path.join(process.env.SCREENSHOTS, `${name}-${language}.png`), fullPage: true });
  }
  const scrollWidth = await page.evaluate(() => (globalThis as unknown as Window).document.documentElement.scrollWidth);
  expect({ page: new URL(page.url()).pathname, language, scrollWidth }).toEqual({
    page: new URL(page.url()).pathname,
    language,
    scrollWidth: Math.min(scrollWidth, 320),
  });
}

/** Every radio and checkbox on the page, and every button's font against the body's. */
async function controls(page: Page) {
  return page.evaluate(() => {
    type El = { getBoundingClientRect(): { width: number; height: number }; id: string };
    const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): El[]; body: El } }).document;
    const style = (globalThis as unknown as { getComputedStyle(e: El): { fontFamily: string; fontSize: string } }).getComputedStyle;
    return {
      choices: [...doc.querySelectorAll('input[type=radio], input[type=checkbox]')].map((input) => {
        const { width, height } = input.getBoundingClientRect();
        return { id: input.id, big: width >= 24 && height >= 24 };
      }),
      buttonFonts: [...new Set([...doc.querySelectorAll('button')].map((button) => style(button).fontFamily))],
      bodyFont: style(doc.body).fontFamily,
    };
  });
}

async function signIn(page: Page, email: string): Promise<void> {
  await page.locator('#email').fill(email);
  await page.locator('#password').fill(PASSWORD);
  await page.locator('main form button[type=submit]').first().click();
}

async function newContext(language: 'en' | 'cy'): Promise<BrowserContext> {
  const context = await browser.newContext({ locale: 'en-GB', viewport: { width: 320, height: 800 } });
  await context.addCookies([
    {
      name: LANGUAGE_COOKIE,
      value: `${language}.${Math.floor(Date.now() / 1000)}`,
      url: gatehouse.issuer,
      httpOnly: true,
      sameSite: 'Lax',
    },
  ]);
  return context;
}

test('the stylesheet never breaks words anywhere, only long unbroken strings where they are', () => {
  const css = fs.readFileSync(path.join(ROOT, 'public/gatehouse.css'), 'utf8');
  expect(css).not.toMatch(/overflow-wrap:\s*anywhere|word-break:\s*break-all/);
  // Whole cards must not break words: only named elements (addresses, keys, ids) may.
  expect(css).not.toMatch(/\.card[^{]*\{[^}]*(overflow-wrap|word-wrap|word-break)/);
});

for (const language of ['en', 'cy'] as const) {
  test(`sign-in, choosing a school, Account settings and the console fit a 320 px screen (${language})`, async () => {
    const context = await newContext(language);
    const page = await context.newPage();

    await page.goto(`${system.url}/login`);
    await page.locator('#email').waitFor();
    expect(await page.getAttribute('html', 'lang')).toBe(language);
    await fits(page, language);
    const login = await controls(page);
    expect(login.choices).toEqual([{ id: 'remember', big: true }]);
    expect(login.buttonFonts).toEqual([login.bodyFont]);

    await signIn(page, helpdeskEmail(language));
    await page.locator('input[type=radio]').first().waitFor();
    await fits(page, language);
    const choose = await controls(page);
    expect(choose.choices).toHaveLength(2);
    expect(choose.choices.every((choice) => choice.big)).toBe(true);
    expect(choose.buttonFonts).toEqual([choose.bodyFont]);
    await page.locator(`input[value="${schoolId}"]`).check();
    await page.locator('main form button[type=submit]').first().click();
    await page.locator('#welcome').waitFor();

    // The console: the helpdesk has higher access, so it adds a device first (a long name, for the table).
    await page.goto(`${gatehouse.issuer}/admin`);
    await page.locator('img.qr').waitFor();
    await fits(page, language);
    const { secret } = parseOtpauth(decodeQrPng(await page.locator('img.qr').screenshot()));
    await page.locator('#name').fill(DEVICE);
    await page.locator('#code').fill(codeFor(secret));
    await page.locator('main form button[type=submit]').first().click();
    await page.waitForURL(/\/admin\/schools$/);

    const { services } = gatehouse;
    const person = (await services.accounts.findByEmail(helpdeskEmail(language)))!;
    for (const address of [
      '/admin/schools',
      `/admin/schools/${schoolId}`,
      `/admin/schools/${schoolId}/members/${person.id}`,
      `/admin/schools/${schoolId}/import`,
      `/admin/people?search=${encodeURIComponent('long')}`,
      `/admin/people/${person.id}`,
      '/admin/audit',
      '/admin/clients',
      `/admin/clients/${clientId}`,
      '/admin/roles',
      '/account/security-keys',
      '/account/schools',
    ]) {
      const response = await page.goto(`${gatehouse.issuer}${address}`);
      expect({ address, status: response?.status() }).toEqual({ address, status: 200 });
      expect(await page.getAttribute('html', 'lang')).toBe(language);
      await fits(page, language);
      const found = await controls(page);
      expect({ address, choices: found.choices.filter((choice) => !choice.big) }).toEqual({ address, choices: [] });
      if (found.buttonFonts.length > 0) expect({ address, fonts: found.buttonFonts }).toEqual({ address, fonts: [found.bodyFont] });
    }
    await context.close();
  }, 120_000);
}

test('the language link sits above the card and shows where the keyboard is', async () => {
  const context = await newContext('en');
  const page = await context.newPage();
  await page.goto(`${system.url}/login`);
  const link = page.locator('nav.language a');
  const [linkBox, cardBox] = await Promise.all([link.boundingBox(), page.locator('main.card').boundingBox()]);
  expect(linkBox!.y + linkBox!.height).toBeLessThanOrEqual(cardBox!.y);
  expect(linkBox!.x + linkBox!.width).toBeGreaterThan(320 / 2);
  // Before the sign-in form for the keyboard (the email field has the focus when the page opens).
  await page.locator('#email').focus();
  await page.keyboard.press('Shift+Tab');
  await expect(
    link.evaluate((element) => element === (globalThis as unknown as { document: { activeElement: unknown } }).document.activeElement),
  ).resolves.toBe(true);
  const outline = await link.evaluate((element) => {
    const style = (
      globalThis as unknown as { getComputedStyle(e: unknown): { outlineStyle: string; outlineWidth: string } }
    ).getComputedStyle(element);
    return { style: style.outlineStyle, width: style.outlineWidth };
  });
  expect(outline.style).not.toBe('none');
  expect(Number.parseFloat(outline.width)).toBeGreaterThanOrEqual(2);
  await context.close();
});
