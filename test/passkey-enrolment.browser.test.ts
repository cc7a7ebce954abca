import { browserWithAuthenticator, claimsAtSchoolSystem, expectAccessible, LOG_IN_WORDS, logIn } from './support/browser.ts';
import { RIVERSIDE, useGatehouse } from './support/fixture.ts';
import { ageSessionsOf } from './support/gatehouse.ts';
import { PASSWORD, staff } from './support/scenario.ts';

/**
 * "Set up a passkey" inside a sign-in, in Chromium with the DevTools virtual authenticator: the
 * enrolment offer after a password and the step-up enrolment (acr_values higher) offer a passkey
 * first where the browser can make one, and finish the sign-in with higher access at a real
 * openid-client school system; without WebAuthn only the authenticator app is offered.
 */

const HIGHER = 'urn:gatehouse:acr:higher';

const world = useGatehouse({ smtp: true, school: RIVERSIDE, client: 'school-system', browser: true });

test('the offer after a password sets up a passkey first: pwd hwk user mfa, higher access; next time the passkey alone signs in', async () => {
  const account = await staff(world, 'head@riverside.example');
  const { context, page, authenticator } = await browserWithAuthenticator(world.browser);
  await page.goto(`${world.schoolSystem.url}/login`);
  await logIn(page, 'head@riverside.example');

  const setUp = page.getByRole('button', { name: 'Set up a passkey' });
  await setUp.waitFor();
  await page.getByText('You have basic access only until you set up a passkey or an authenticator app.').waitFor();
  // The app stays on offer; the words for a browser without passkeys are not shown.
  await expect(page.getByRole('link', { name: 'Set up an authenticator app' }).isVisible()).resolves.toBe(true);
  await expect(page.getByText('You have basic access only until you set up your authenticator app.').isVisible()).resolves.toBe(false);
  await expect(page.getByLabel('Name').inputValue()).resolves.toBe('Passkey');
  await expectAccessible(page);

  // The person does not verify (no fingerprint, prompt closed): said in words, nothing stored.
  await authenticator.setUserVerified(false);
  await setUp.click();
  await page.getByText('No passkey was set up: the browser’s prompt was closed or it timed out.').waitFor();
  expect(await world.services.passkeys.list(account.id)).toHaveLength(0);

  // An empty name is the server's to refuse, in words, before anything is made on the device.
  await authenticator.setUserVerified(true);
  await page.getByLabel('Name').fill('');
  await setUp.click();
  await page.getByRole('heading', { name: 'Set up a passkey' }).waitFor();
  await page.getByText('Give this passkey a name').waitFor();
  expect(await authenticator.credentials()).toHaveLength(0);
  await expectAccessible(page);

  await page.getByLabel('Name').fill('Work laptop');
  await page.getByRole('button', { name: 'Set up a passkey' }).click();
  expect(await claimsAtSchoolSystem(page)).toMatchObject({
    sub: account.id,
    acr: HIGHER,
    amr: ['pwd', 'hwk', 'user', 'mfa'],
    access_level: 'higher',
  });
  expect(await world.services.passkeys.list(account.id)).toMatchObject([{ name: 'Work laptop', synced: false }]);
  expect(await authenticator.credentials()).toHaveLength(1);
  await world.smtp.waitFor('head@riverside.example', /A passkey was added/);

  // Next time: no password, no code, the passkey alone.
  await context.clearCookies();
  await page.goto(`${world.schoolSystem.url}/login`);
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  expect(await claimsAtSchoolSystem(page)).toMatchObject({ sub: account.id, acr: HIGHER, amr: ['hwk', 'user', 'mfa'] });
  await context.close();
});

test('a step-up from a basic session offers the passkey first, after confirming the password, in Welsh', async () => {
  const account = await staff(world, 'deputy@riverside.example');
  const { context, page } = await browserWithAuthenticator(world.browser, { backupEligible: true });
  await page.goto(`${world.schoolSystem.url}/login?ui_locales=cy`);
  await logIn(page, 'deputy@riverside.example', { words: LOG_IN_WORDS.cy });
  await page.getByRole('button', { name: 'Parhau gyda mynediad sylfaenol' }).click();
  expect(await claimsAtSchoolSystem(page)).toMatchObject({ acr: 'urn:gatehouse:acr:basic', amr: ['pwd'] });

  // Later, the school system asks for higher access: the session's password is no longer fresh.
  await ageSessionsOf(world.gatehouse, account.id);
  await page.goto(`${world.schoolSystem.url}/login?ui_locales=cy&acr_values=${encodeURIComponent(HIGHER)}`);
  await page.getByRole('heading', { name: 'Cadarnhewch mai chi sydd yma' }).waitFor();
  await page.getByLabel('Cyfrinair', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Cadarnhau' }).click();

  // The app's page, with the passkey above it.
  await page.getByRole('heading', { name: 'Ychwanegu dyfais newydd' }).waitFor();
  await page.getByText('Riverside MIS wedi gofyn am fynediad uwch').waitFor();
  const passkeyLink = page.getByRole('link', { name: 'Gosod allwedd mynediad' });
  await passkeyLink.waitFor();
  await expectAccessible(page);
  await passkeyLink.click();
  await page.getByRole('heading', { name: 'Gosod allwedd mynediad' }).waitFor();
  await expect(page.getByText('Ni all y porwr hwn greu allweddi mynediad.').isVisible()).resolves.toBe(false);
  await expect(page.getByLabel('Enw').inputValue()).resolves.toBe('Allwedd mynediad');
  await expectAccessible(page);

  // Left open too long: the proof is asked for again, and the person comes back to the passkey.
  await ageSessionsOf(world.gatehouse, account.id);
  await page.getByRole('button', { name: 'Gosod allwedd mynediad' }).click();
  await page.getByRole('heading', { name: 'Cadarnhewch mai chi sydd yma' }).waitFor();
  await page.getByLabel('Cyfrinair', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Cadarnhau' }).click();
  await page.getByRole('heading', { name: 'Gosod allwedd mynediad' }).waitFor();
  expect(new URL(page.url()).pathname).toMatch(/^\/interaction\/[^/]+\/enrol\/passkey$/);
  await page.getByRole('button', { name: 'Gosod allwedd mynediad' }).click();
  expect(await claimsAtSchoolSystem(page)).toMatchObject({
    sub: account.id,
    acr: HIGHER,
    amr: ['pwd', 'swk', 'user', 'mfa'],
    access_level: 'higher',
  });
  expect(await world.services.passkeys.list(account.id)).toMatchObject([{ name: 'Allwedd mynediad', synced: true }]);
  await context.close();
});

test('without WebAuthn only the authenticator app is offered, at the offer and at the step-up', async () => {
  const account = await staff(world, 'bursar@riverside.example');
  const context = await world.browser.newContext();
  // A browser without WebAuthn: PublicKeyCredential is not there, and no authenticator either.
  await context.addInitScript('delete window.PublicKeyCredential');
  const page = await context.newPage();
  await page.goto(`${world.schoolSystem.url}/login`);
  await logIn(page, 'bursar@riverside.example');

  await page.getByText('You have basic access only until you set up your authenticator app.').waitFor();
  await page.waitForLoadState('load');
  await expect(page.getByRole('button', { name: 'Set up a passkey' }).count()).resolves.toBe(0);
  await expect(page.getByText('You have basic access only until you set up a passkey').isVisible()).resolves.toBe(false);
  await expectAccessible(page);
  await page.getByRole('link', { name: 'Set up an authenticator app' }).click();
  await page.getByRole('heading', { name: 'Add new device' }).waitFor();
  await page.waitForLoadState('load');
  await expect(page.getByRole('link', { name: 'Set up a passkey' }).count()).resolves.toBe(0);
  await page.getByRole('link', { name: 'Cancel' }).click();
  await page.getByRole('button', { name: 'Continue with basic access' }).click();
  await claimsAtSchoolSystem(page);

  // The step-up's page: the app only; its passkey page, reached by its address, says why there is no button.
  await page.goto(`${world.schoolSystem.url}/login?acr_values=${encodeURIComponent(HIGHER)}`);
  await page.getByRole('heading', { name: 'Add new device' }).waitFor();
  await page.waitForLoadState('load');
  await expect(page.getByRole('link', { name: 'Set up a passkey' }).count()).resolves.toBe(0);
  await page.goto(page.url().replace(/\/enrol$/, '/enrol/passkey'));
  await page.getByText('This browser cannot make passkeys.').waitFor();
  await expect(page.getByRole('button', { name: 'Set up a passkey' }).count()).resolves.toBe(0);
  await expectAccessible(page);
  await page.getByRole('link', { name: 'Set up an authenticator app instead' }).click();
  await page.getByRole('heading', { name: 'Add new device' }).waitFor();
  expect(await world.services.passkeys.list(account.id)).toHaveLength(0);
  await context.close();
});
