import type { Page } from 'playwright-core';
import { LANGUAGE_COOKIE } from '../src/http/language.ts';
import { browserWithAuthenticator, expectAccessible, LOG_IN_WORDS, logIn } from './support/browser.ts';
import { RIVERSIDE, useGatehouse } from './support/fixture.ts';
import { ageSessionsOf } from './support/gatehouse.ts';
import { staff as addStaff } from './support/scenario.ts';

/**
 * Passkeys in Account settings, in Chromium with DevTools' virtual authenticator (CTAP2, internal
 * transport, resident keys, user verification): add one after confirming it's you, see it listed
 * and mailed, remove it; "Confirm with a passkey"; what the page says when the browser cannot or
 * the person cancels; axe and 320 px on every new page, and the Welsh page once.
 */

const world = useGatehouse({ smtp: true, school: RIVERSIDE, client: false, browser: true });
const PASSWORD = 'the heron waits by the river';
const KEYS = () => `${world.issuer}/account/security-keys`;
const staff = (email: string) => addStaff(world, email, 'higher', PASSWORD);

/** Signed in to Account settings with the password, on a browser with a platform authenticator. */
async function signedIn(email: string, options: { backupEligible?: boolean; language?: 'cy' } = {}) {
  const { context, page, authenticator } = await browserWithAuthenticator(
    world.browser,
    { backupEligible: options.backupEligible ?? false },
    { locale: 'en-GB' },
  );
  if (options.language) {
    await context.addCookies([
      { name: LANGUAGE_COOKIE, value: `${options.language}.${Math.floor(Date.now() / 1000)}`, url: world.issuer, sameSite: 'Lax' },
    ]);
  }
  await page.goto(`${world.issuer}/account`);
  await logIn(page, email, { password: PASSWORD, words: LOG_IN_WORDS[options.language ?? 'en'] });
  await page.waitForURL(/\/account\/security-keys$/);
  return { context, page, authenticator };
}

/** Ten minutes pass: the sign-in and every proof of the account's sessions are older than the window. */
const leaveUnattended = async (accountId: string) => ageSessionsOf(world.gatehouse, accountId);

async function createPasskey(page: Page, name: string) {
  await page.getByLabel('Name').fill(name);
  await page.getByRole('button', { name: 'Create passkey' }).click();
}

test('add a passkey after confirming it’s you, see it listed and mailed, then remove it', async () => {
  const account = await staff('add@riverside.example');
  const { context, page, authenticator } = await signedIn(account.email);
  await page.getByText('You have no passkeys yet.').waitFor();

  await leaveUnattended(account.id);
  await page.getByRole('link', { name: 'Add a passkey' }).click();
  await page.getByRole('heading', { name: 'Confirm it’s you' }).waitFor();
  // No passkey yet: nothing to confirm with but the password.
  await expect(page.getByRole('button', { name: 'Confirm with a passkey' }).count()).resolves.toBe(0);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Confirm', exact: true }).click();
  await page.getByRole('heading', { name: 'Add a passkey' }).waitFor();
  await expect(page.getByText('This browser cannot create passkeys.').isVisible()).resolves.toBe(false);
  await expectAccessible(page);

  // No name: said in words before the browser is asked for anything.
  await page.getByRole('button', { name: 'Create passkey' }).click();
  await page.getByText('Give this passkey a name, like “My laptop”.').waitFor();
  await expect(page.getByLabel('Name').getAttribute('aria-invalid')).resolves.toBe('true');
  await expect(authenticator.credentials()).resolves.toEqual([]);
  await expectAccessible(page);

  await createPasskey(page, 'Work laptop');
  await page.getByText('Your new passkey is saved.').waitFor();
  const row = page.getByRole('row', { name: /Work laptop/ });
  await expect(row.getByRole('cell', { name: 'This device only' }).isVisible()).resolves.toBe(true);
  await expect(row.getByRole('cell', { name: 'Never' }).isVisible()).resolves.toBe(true);
  const [credential] = await authenticator.credentials();
  expect(credential).toMatchObject({ isResidentCredential: true, rpId: new URL(world.issuer).hostname });
  expect(Buffer.from(credential!.userHandle!, 'base64').toString('hex')).toBe(account.id.replaceAll('-', ''));
  await world.smtp.waitFor(account.email, /A passkey was added/);
  await expectAccessible(page);

  // The same device again: the browser says it holds one already, and the page says so in words.
  await page.getByRole('link', { name: 'Add a passkey' }).click();
  await createPasskey(page, 'Work laptop again');
  await page.getByText('This device already has a passkey for your account.', { exact: false }).waitFor();
  await page.getByRole('link', { name: 'Cancel' }).click();

  await page.getByRole('link', { name: 'Remove Work laptop' }).click();
  await page.getByRole('heading', { name: 'Remove “Work laptop”' }).waitFor();
  await expectAccessible(page);
  await page.getByRole('button', { name: 'Remove this passkey' }).click();
  await page.getByText('The passkey has been removed.').waitFor();
  await page.getByText('You have no passkeys yet.').waitFor();
  await world.smtp.waitFor(account.email, /A passkey was removed/);
  await expect(world.services.passkeys.list(account.id)).resolves.toEqual([]);
  await context.close();
});

test('a synced passkey is listed as synced, and confirms it’s you in one touch', async () => {
  const account = await staff('confirm@riverside.example');
  const { context, page } = await signedIn(account.email, { backupEligible: true });
  await page.getByRole('link', { name: 'Add a passkey' }).click();
  await createPasskey(page, 'Phone');
  await page.getByText('Your new passkey is saved.').waitFor();
  await expect(page.getByRole('row', { name: /Phone/ }).getByRole('cell', { name: 'Synced' }).isVisible()).resolves.toBe(true);

  await leaveUnattended(account.id);
  await page.getByRole('link', { name: 'Remove Phone' }).click();
  await page.getByRole('heading', { name: 'Confirm it’s you' }).waitFor();
  await expectAccessible(page);
  await page.getByRole('button', { name: 'Confirm with a passkey' }).click();
  await page.getByRole('heading', { name: 'Remove “Phone”' }).waitFor();
  const audit = await world.services.audit.forEmail(account.email);
  expect(audit.find((event) => event.event === 'reauth.passkey')).toMatchObject({ outcome: 'success' });
  await context.close();
});

test('a cancelled prompt is said on the page, in its language; without WebAuthn the page says so instead of a button', async () => {
  const account = await staff('cancel@riverside.example');
  const { context, page, authenticator } = await signedIn(account.email, { language: 'cy' });
  await page.goto(`${KEYS()}/passkeys/new`);
  await page.getByRole('heading', { name: 'Ychwanegu allwedd mynediad' }).waitFor();
  await expectAccessible(page);
  await authenticator.setUserVerified(false);
  await page.getByLabel('Enw').fill('Gliniadur');
  await page.getByRole('button', { name: 'Creu allwedd mynediad' }).click();
  await page.getByText('Ni chafodd yr allwedd mynediad ei chreu', { exact: false }).waitFor();
  await expect(authenticator.credentials()).resolves.toEqual([]);
  await context.close();

  const withoutScripts = await world.browser.newContext({ locale: 'en-GB', javaScriptEnabled: false });
  const plain = await withoutScripts.newPage();
  await plain.goto(`${world.issuer}/account`);
  await plain.locator('#email').fill((await staff('plain@riverside.example')).email);
  await plain.locator('#password').fill(PASSWORD);
  await plain.locator('main form button[type=submit]').first().click();
  await plain.waitForURL(/\/account\/security-keys$/);
  await plain.goto(`${KEYS()}/passkeys/new`);
  await plain.getByText('This browser cannot create passkeys.', { exact: false }).waitFor();
  await expect(plain.getByRole('button', { name: 'Create passkey' }).count()).resolves.toBe(0);
  await withoutScripts.close();
});

test('a passkey and nothing else: "Confirm it’s you" puts the passkey first and never speaks of an app; with backup codes, the field is for one; back to the page after confirming, its button works', async () => {
  const account = await staff('only-passkey@riverside.example');
  const { context, page } = await signedIn(account.email);
  await page.getByRole('link', { name: 'Add a passkey' }).click();
  await createPasskey(page, 'Laptop');
  await page.getByText('Your new passkey is saved.').waitFor();

  // No backup codes yet: the passkey is the only way, and the page says what to do if this browser cannot.
  await leaveUnattended(account.id);
  await page.getByRole('link', { name: 'Create backup codes' }).click();
  await page.getByRole('heading', { name: 'Confirm it’s you' }).waitFor();
  await page.getByText('If this browser cannot use your passkey', { exact: false }).waitFor();
  await expect(page.locator('#password').count()).resolves.toBe(0);
  await expect(page.locator('main').innerText()).resolves.not.toMatch(/authenticator/i);
  await expectAccessible(page);

  // The ceremony ends in a form post that leaves the page; Back brings the page back from the
  // browser's cache as it was, with a "pageshow" event. Headless Chromium keeps no such cache, so
  // here the post is held back (the page stays as the cache would keep it) and the event is sent.
  await page.evaluate(`{
    const send = HTMLFormElement.prototype.submit;
    HTMLFormElement.prototype.submit = function held() {
      window.sendHeld = () => { HTMLFormElement.prototype.submit = send; };
    };
  }`);
  await page.getByRole('button', { name: 'Confirm with a passkey' }).click();
  // Polled from outside: waitForFunction would evaluate its string inside the page, which our CSP forbids.
  for (let waited = 0; !(await page.evaluate(`'sendHeld' in window`)); waited += 50) {
    if (waited > 10_000) throw new Error('the passkey ceremony never posted its form');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await page.evaluate(`window.sendHeld(); window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true }));`);
  await page.getByRole('button', { name: 'Confirm with a passkey' }).click();
  await page.getByRole('button', { name: 'Create backup codes' }).click();
  await page.getByRole('heading', { name: 'Your backup codes' }).waitFor();

  // With backup codes: the passkey still first, then the password and a "Backup code" field that takes letters.
  await page.goto(KEYS());
  await leaveUnattended(account.id);
  await page.getByRole('link', { name: 'Create new backup codes' }).click();
  await page.getByRole('heading', { name: 'Confirm it’s you' }).waitFor();
  const passkeyButton = await page.getByRole('button', { name: 'Confirm with a passkey' }).boundingBox();
  const password = await page.getByLabel('Password', { exact: true }).boundingBox();
  expect(passkeyButton!.y).toBeLessThan(password!.y);
  await expect(page.getByLabel('Backup code').getAttribute('inputmode')).resolves.toBe('text');
  await expect(page.locator('main').innerText()).resolves.not.toMatch(/authenticator/i);
  await expectAccessible(page);
  await context.close();
});
