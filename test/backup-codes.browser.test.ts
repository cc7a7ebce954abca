import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { createWords } from '../src/i18n/words.ts';
import type { Language } from '../src/i18n/languages.ts';
import { expectAccessible } from './support/browser.ts';
import { RIVERSIDE, useGatehouse } from './support/fixture.ts';
import { ageSessionsOf } from './support/gatehouse.ts';
import { staff } from './support/scenario.ts';
import { codeFor } from './support/totp.ts';

const world = useGatehouse({ school: RIVERSIDE, client: 'school-system', browser: true });
const PASSWORD = 'the heron waits by the river';
/** The phone's authenticator secret (base32), as if it had been enrolled by QR code. */
const PHONE = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const words = createWords({ serviceName: 'Gatehouse', helpdeskContact: undefined }, { strict: true });

/** A higher member of staff with a password and a phone. */
async function staffWithPhone(email: string) {
  const { services } = world;
  const account = await staff(world, email, 'higher', PASSWORD);
  const deviceId = crypto.randomUUID();
  await services.repositories.authenticators.insert({
    id: deviceId,
    accountId: account.id,
    name: 'Phone',
    secretSealed: services.box.seal(PHONE, `totp:${deviceId}`),
    step: 0,
  });
  return account;
}

async function logIn(page: Page, email: string) {
  await page.locator('#email').fill(email);
  await page.locator('#password').fill(PASSWORD);
  await page.locator('main form button[type=submit]').first().click();
}

const say = (language: Language, key: string, values?: Record<string, unknown>) => words.t(language, key, values);

/** On the codes page: the codes a person (or a screen reader) reads off the list, each item one code. */
async function codesOn(page: Page): Promise<string[]> {
  const items = await page.getByRole('listitem').all();
  const codes: string[] = [];
  for (const item of items) {
    const inItem = await item.locator('code').allTextContents();
    expect({ inItem, text: (await item.textContent())?.trim() }).toEqual({ inItem: [inItem[0]], text: inItem[0] });
    codes.push(inItem[0]!);
  }
  return codes;
}

test('create codes from Security keys after confirming, download and print them, then sign in through a school system with one, once', async () => {
  const email = 'head@riverside.example';
  const account = await staffWithPhone(email);
  const context = await world.browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  const cspErrors: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) cspErrors.push(message.text());
  });
  await page.goto(`${world.issuer}/account`);
  await logIn(page, email);
  await page.getByLabel('Code').fill(codeFor(PHONE));
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('heading', { name: 'Backup codes' }).waitFor();
  await expectAccessible(page, 'security-keys');

  // Some time later: creating codes asks for the password and a code first.
  await ageSessionsOf(world.gatehouse, account.id);
  await page.getByRole('link', { name: 'Create backup codes' }).click();
  await page.getByRole('heading', { name: 'Confirm it’s you' }).waitFor();
  // No backup codes yet: the code can only be the app's, so the hint says so and the keyboard is numeric.
  await expect(page.getByText('The 6-digit code your authenticator app shows now.').isVisible()).resolves.toBe(true);
  await expect(page.getByLabel('Code').getAttribute('inputmode')).resolves.toBe('numeric');
  await expectAccessible(page, 'confirm');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByLabel('Code').fill(codeFor(PHONE, 1));
  await page.getByRole('button', { name: 'Confirm' }).click();
  await page.getByRole('heading', { name: 'Create backup codes' }).waitFor();
  await expectAccessible(page, 'create-backup-codes');
  await page.getByRole('button', { name: 'Create backup codes' }).click();
  await page.getByRole('heading', { name: 'Your backup codes' }).waitFor();
  expect(await page.title()).toBe('Your backup codes – Gatehouse');
  await expectAccessible(page, 'backup-codes');

  const codes = await codesOn(page);
  expect(codes).toHaveLength(10);
  expect(new Set(codes).size).toBe(10);
  await expect(
    page
      .getByRole('list')
      .filter({ has: page.locator('code') })
      .getAttribute('class'),
  ).resolves.toBe('codes');

  // Download: a text file of the codes, under our CSP.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download' }).click()]);
  expect(download.suggestedFilename()).toBe('backup-codes.txt');
  const file = await fs.readFile((await download.path())!, 'utf8');
  expect(file).toContain(`Backup codes for ${email} – Gatehouse`);
  for (const code of codes) expect(file).toContain(code);

  // Print: the button is there because the script ran; printed, the page is the codes and whose they are.
  const print = page.getByRole('button', { name: 'Print' });
  await expect(print.isVisible()).resolves.toBe(true);
  await page.evaluate(() => {
    (globalThis as unknown as { print: () => void; printed?: boolean }).print = () => {
      (globalThis as unknown as { printed: boolean }).printed = true;
    };
  });
  await print.click();
  await expect(page.evaluate(() => (globalThis as unknown as { printed?: boolean }).printed)).resolves.toBe(true);
  await page.emulateMedia({ media: 'print' });
  for (const hidden of [
    print,
    page.getByRole('link', { name: 'Download' }),
    page.getByRole('navigation').first(),
    page.getByRole('link', { name: 'Done' }),
  ]) {
    await expect(hidden.isVisible()).resolves.toBe(false);
  }
  await expect(page.getByRole('heading', { name: `Backup codes for ${email}` }).isVisible()).resolves.toBe(true);
  await expect(page.getByText(codes[0]!).isVisible()).resolves.toBe(true);
  await page.emulateMedia({ media: 'screen' });
  expect(cspErrors).toEqual([]);

  // A reload (the post again) does not show them again, and does not replace them.
  await page.reload();
  await page.getByText('were created and shown already, so they are not shown again').waitFor();
  await expect(codesOn(page)).resolves.toEqual([]);
  await page.goBack();
  await expect(codesOn(page)).resolves.toEqual([]);
  await page.goto(`${world.issuer}/account/security-keys`);
  await page.getByText('You have 10 backup codes left').waitFor();
  await context.close();

  // Lost phone: a new browser signs in at the school system with the password and a backup code.
  const signIn = async (code: string) => {
    const fresh = await world.browser.newContext();
    const tab = await fresh.newPage();
    await tab.goto(`${world.schoolSystem.url}/login`);
    await logIn(tab, email);
    await tab.getByRole('link', { name: 'Use a backup code' }).click();
    await tab.getByRole('heading', { name: 'Use a backup code' }).waitFor();
    await tab.getByLabel('Backup code').fill(code);
    await tab.getByRole('button', { name: 'Continue' }).click();
    return { fresh, tab };
  };
  const first = await signIn(codes[4]!);
  await first.tab.locator('#welcome').waitFor();
  expect(JSON.parse((await first.tab.locator('#claims').textContent()) ?? '{}')).toMatchObject({
    school: { id: world.schoolId },
    acr: 'urn:gatehouse:acr:higher',
    amr: ['pwd', 'otp', 'mfa'],
    access_level: 'higher',
  });
  await first.fresh.close();

  const second = await signIn(codes[4]!);
  await second.tab.getByText('That backup code is not right, or it has been used already.').waitFor();
  await expect(second.tab.getByLabel('Backup code').getAttribute('aria-invalid')).resolves.toBe('true');
  await expectAccessible(second.tab, 'backup-code refused');
  await second.tab.getByRole('link', { name: 'Use a code from your authenticator app instead' }).click();
  await second.tab.getByRole('heading', { name: 'Enter your code' }).waitFor();
  await second.fresh.close();
});

test('the backup code pages in Welsh', async () => {
  const email = 'pennaeth@riverside.example';
  await staffWithPhone(email);
  const context = await world.browser.newContext({ locale: 'cy-GB' });
  const page = await context.newPage();
  await page.goto(`${world.schoolSystem.url}/login?ui_locales=cy`);
  await logIn(page, email);
  await page.locator('#code').fill(codeFor(PHONE));
  await page.locator('main form button[type=submit]').first().click();
  await page.locator('#welcome').waitFor();

  await page.goto(`${world.issuer}/account/security-keys`);
  expect(await page.getAttribute('html', 'lang')).toBe('cy');
  await page.getByRole('link', { name: say('cy', 'recovery.section.create') }).click();
  await page.getByRole('heading', { name: say('cy', 'recovery.create.heading') }).waitFor();
  expect(await page.title()).toBe(`${say('cy', 'titles.create-backup-codes')} – Gatehouse`);
  await expectAccessible(page, 'create-backup-codes cy');
  await page.getByRole('button', { name: say('cy', 'recovery.create.button') }).click();
  await page.getByRole('heading', { name: say('cy', 'recovery.codes.heading') }).waitFor();
  expect(await page.getAttribute('html', 'lang')).toBe('cy');
  expect(await page.title()).toBe(`${say('cy', 'titles.backup-codes')} – Gatehouse`);
  await expectAccessible(page, 'backup-codes cy');
  const codes = await codesOn(page);
  expect(codes).toHaveLength(10);
  await expect(page.getByRole('link', { name: say('cy', 'recovery.codes.download') }).getAttribute('download')).resolves.toBe(
    'codau-wrth-gefn.txt',
  );
  await page.getByRole('link', { name: say('cy', 'recovery.codes.done') }).click();
  await page.getByText(say('cy', 'recovery.section.left', { count: 10, date: '' }).split(',')[0]!).waitFor();
  await context.close();

  const signIn = await world.browser.newContext({ locale: 'en-GB' });
  const tab = await signIn.newPage();
  await tab.goto(`${world.schoolSystem.url}/login?ui_locales=cy`);
  await logIn(tab, email);
  await tab.getByRole('link', { name: say('cy', 'recovery.signIn.link') }).click();
  await tab.getByRole('heading', { name: say('cy', 'recovery.signIn.heading') }).waitFor();
  expect(await tab.getAttribute('html', 'lang')).toBe('cy');
  await expectAccessible(tab, 'backup-code cy');
  await tab.getByLabel(say('cy', 'recovery.signIn.label')).fill(codes[0]!);
  await tab.locator('main form button[type=submit]').first().click();
  await tab.locator('#welcome').waitFor();
  await signIn.close();
});
