import crypto from 'node:crypto';
import type { RegistrationResponseJSON } from '@simplewebauthn/server';
import type { Page } from 'playwright-core';
import type { Account } from '../src/db/entities/index.ts';
import { browserWithAuthenticator, claimsAtSchoolSystem, expectAccessible, logIn } from './support/browser.ts';
import { RIVERSIDE, useGatehouse } from './support/fixture.ts';
import { staff } from './support/scenario.ts';
import { codeFor } from './support/totp.ts';

/**
 * Passkeys at sign-in in Chromium, with the DevTools virtual authenticator (CTAP2, internal,
 * resident keys, user verification): "Sign in with a passkey" alone, through a real openid-client
 * school system, and a passkey as the second step after a password. The passkey is added through
 * the service with a credential the browser creates, so these tests do not lean on Account
 * settings' pages.
 */

const world = useGatehouse({ smtp: true, school: RIVERSIDE, client: 'school-system', browser: true });

/**
 * navigator.credentials.create() on a Gatehouse page (the relying party's origin), with the
 * service's options: the JSON's base64url fields decoded in the page, the answer encoded back.
 * A string, not a function: the tests are compiled without the DOM's types.
 */
const CREATE_IN_PAGE = `async (options) => {
  const decode = (text) => Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
  const encode = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
  const credential = await navigator.credentials.create({
    publicKey: {
      ...options,
      challenge: decode(options.challenge),
      user: { ...options.user, id: decode(options.user.id) },
      excludeCredentials: (options.excludeCredentials ?? []).map((excluded) => ({ ...excluded, id: decode(excluded.id) })),
    },
  });
  return {
    id: credential.id,
    rawId: encode(credential.rawId),
    type: credential.type,
    response: {
      clientDataJSON: encode(credential.response.clientDataJSON),
      attestationObject: encode(credential.response.attestationObject),
      transports: credential.response.getTransports(),
    },
    clientExtensionResults: credential.getClientExtensionResults(),
    authenticatorAttachment: credential.authenticatorAttachment,
  };
}`;

/** A passkey for `account` on the page's virtual authenticator, stored through the service. */
async function registerPasskey(page: Page, account: Account, name = 'Laptop') {
  await page.goto(`${world.issuer}/.well-known/openid-configuration`);
  const sessionUid = crypto.randomUUID();
  const options = await world.services.passkeys.registrationOptions(account, sessionUid);
  const created = (await page.evaluate(`(${CREATE_IN_PAGE})(${JSON.stringify(options)})`)) as RegistrationResponseJSON;
  return world.services.passkeys.register(account, sessionUid, created, name, { ip: '127.0.0.1' });
}

test('"Sign in with a passkey" alone gives higher access; a removed passkey is refused in words', async () => {
  const account = await staff(world, 'head@riverside.example');
  const { context, page, authenticator } = await browserWithAuthenticator(world.browser);
  await registerPasskey(page, account);
  expect(await authenticator.credentials()).toHaveLength(1);

  await page.goto(`${world.schoolSystem.url}/login`);
  const button = page.getByRole('button', { name: 'Sign in with a passkey' });
  await button.waitFor();
  if (process.env.SCREENSHOTS) await page.screenshot({ path: `${process.env.SCREENSHOTS}/login.png`, fullPage: true });
  await expectAccessible(page);
  await button.click();
  expect(await claimsAtSchoolSystem(page)).toMatchObject({
    sub: account.id,
    acr: 'urn:gatehouse:acr:higher',
    amr: ['hwk', 'user', 'mfa'],
    access_level: 'higher',
    school: { id: world.schoolId, name: 'Riverside High' },
  });

  // Removed (as from Account settings): the browser still holds it, Gatehouse no longer accepts it.
  const [passkey] = await world.services.passkeys.list(account.id);
  await world.services.passkeys.remove(account, passkey!.id, { ip: '127.0.0.1' });
  await context.clearCookies();
  await page.goto(`${world.schoolSystem.url}/login`);
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await page
    .getByText(
      'That passkey was not accepted. It may have been removed from your account. Log in with your email address and password instead.',
    )
    .waitFor();
  await expect(page.getByLabel('Email address').isVisible()).resolves.toBe(true);
  await expectAccessible(page);
  await context.close();
});

test('a synced passkey says swk, and "Keep me signed in" ticked on the page keeps the session', async () => {
  const account = await staff(world, 'synced@riverside.example');
  const { context, page } = await browserWithAuthenticator(world.browser, { backupEligible: true });
  await registerPasskey(page, account, 'Phone');
  await page.goto(`${world.schoolSystem.url}/login`);
  await page.getByLabel('Keep me signed in on this device').check();
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  expect(await claimsAtSchoolSystem(page)).toMatchObject({ acr: 'urn:gatehouse:acr:higher', amr: ['swk', 'user', 'mfa'] });
  const session = (await context.cookies()).find((cookie) => cookie.name === '_session');
  expect(session?.expires).toBeGreaterThan(Date.now() / 1000);
  await context.close();
});

test('a prompt that fails or is cancelled is said in words on the page, in the page’s language', async () => {
  const account = await staff(world, 'cancelled@riverside.example', 'basic');
  const { context, page, authenticator } = await browserWithAuthenticator(world.browser);
  await registerPasskey(page, account);
  // The person does not verify (no fingerprint, prompt closed): the browser refuses the ceremony.
  await authenticator.setUserVerified(false);
  await page.goto(`${world.schoolSystem.url}/login?ui_locales=cy`);
  await page.getByRole('button', { name: 'Mewngofnodi gydag allwedd mynediad' }).click();
  const said = page.getByRole('alert');
  await said.waitFor();
  expect(await said.textContent()).toMatch(/^Ni chafodd allwedd mynediad ei defnyddio/);
  expect(new URL(page.url()).pathname).toMatch(/^\/interaction\//);

  // Verified this time: the same button works.
  await authenticator.setUserVerified(true);
  await page.getByRole('button', { name: 'Mewngofnodi gydag allwedd mynediad' }).click();
  expect(await claimsAtSchoolSystem(page)).toMatchObject({ amr: ['hwk', 'user', 'mfa'] });
  await context.close();
});

test('an account with only a passkey is asked for it after the password: pwd hwk user mfa, higher access', async () => {
  const account = await staff(world, 'deputy@riverside.example');
  const { context, page } = await browserWithAuthenticator(world.browser);
  await registerPasskey(page, account);
  await page.goto(`${world.schoolSystem.url}/login`);
  await logIn(page, 'deputy@riverside.example');
  await page.getByRole('heading', { name: 'Use your passkey' }).waitFor();
  await expect(page.getByLabel('Code').count()).resolves.toBe(0);
  await expect(page.getByText('This browser cannot use passkeys.').isVisible()).resolves.toBe(false);
  const button = page.getByRole('button', { name: 'Use your passkey' });
  await button.waitFor();
  if (process.env.SCREENSHOTS) await page.screenshot({ path: `${process.env.SCREENSHOTS}/code-passkey.png`, fullPage: true });
  await expectAccessible(page);
  await button.click();
  expect(await claimsAtSchoolSystem(page)).toMatchObject({
    acr: 'urn:gatehouse:acr:higher',
    amr: ['pwd', 'hwk', 'user', 'mfa'],
    access_level: 'higher',
  });
  await context.close();
});

test('with a device and a passkey, the code page offers the passkey instead', async () => {
  const account = await staff(world, 'both@riverside.example');
  const device = await world.services.authenticators.beginEnrolment(account);
  await world.services.authenticators.completeEnrolment(account, device.enrolment, 'Phone', codeFor(device.manualKey), {
    ip: '127.0.0.1',
  });
  const { context, page } = await browserWithAuthenticator(world.browser, { backupEligible: true });
  await registerPasskey(page, account);
  await page.goto(`${world.schoolSystem.url}/login`);
  await logIn(page, 'both@riverside.example');
  await page.getByRole('heading', { name: 'Enter your code' }).waitFor();
  await expect(page.getByLabel('Code').isVisible()).resolves.toBe(true);
  const instead = page.getByRole('button', { name: 'Use your passkey instead' });
  await instead.waitFor();
  if (process.env.SCREENSHOTS) await page.screenshot({ path: `${process.env.SCREENSHOTS}/code-both.png`, fullPage: true });
  await expectAccessible(page);
  await instead.click();
  expect(await claimsAtSchoolSystem(page)).toMatchObject({ acr: 'urn:gatehouse:acr:higher', amr: ['pwd', 'swk', 'user', 'mfa'] });
  await context.close();
});

test('without WebAuthn, no passkey button: the login page is the password’s, the second step says why', async () => {
  const account = await staff(world, 'no-webauthn-passkey@riverside.example');
  const helper = await browserWithAuthenticator(world.browser);
  await registerPasskey(helper.page, account);
  await helper.context.close();

  const context = await world.browser.newContext();
  // A browser without WebAuthn: PublicKeyCredential is not there.
  await context.addInitScript('delete window.PublicKeyCredential');
  const page = await context.newPage();
  await page.goto(`${world.schoolSystem.url}/login`);
  await page.getByRole('button', { name: 'Log in' }).waitFor();
  await page.waitForLoadState('load');
  await expect(page.getByRole('button', { name: 'Sign in with a passkey' }).count()).resolves.toBe(0);
  await logIn(page, 'no-webauthn-passkey@riverside.example');
  await page.getByText('This browser cannot use passkeys.').waitFor();
  await expect(page.getByRole('button', { name: 'Use your passkey' }).count()).resolves.toBe(0);
  await context.close();
});
