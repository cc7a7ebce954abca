import type { Account } from '../src/db/entities/index.ts';
import { formField, visibleText, type Page } from './support/agent.ts';
import { useGatehouse } from './support/fixture.ts';
import { codeFor } from './support/totp.ts';
import { addPasskey } from './support/webauthn.ts';
import { Agent, interactionUrl, PASSWORD, REDIRECT_URI, staff, submitCode, submitLogin } from './support/scenario.ts';

/**
 * "Confirm it's you" in Account settings shows the ways the account has, over HTTP: a passkey
 * first; a code field that says "Backup code" without an authenticator app, and takes letters only
 * where a backup code can be typed; no password form where a password could never be enough (a
 * passkey and nothing else), but what to do instead. And the Security keys page offers backup codes
 * by the same rule as the page that makes them.
 */

const world = useGatehouse();
const where = { ip: '192.0.2.13' };
const KEYS = () => `${world.issuer}/account/security-keys`;
const NEXT = '/account/security-keys/backup-codes';
const confirmOf = (agent: Agent) => agent.get(`${world.issuer}/account/confirm?${new URLSearchParams({ next: NEXT })}`);

/** A member of staff whose only second factor is a passkey, signed in to Account settings with it. */
async function signedInWithPasskey(email: string, options: { codes?: boolean } = {}) {
  const account = await staff(world, email);
  const { authenticator } = await addPasskey(world, account);
  const codes = options.codes ? await world.services.backupCodes.create(account, where) : [];
  const agent = new Agent(REDIRECT_URI);
  const login = await agent.follow(await agent.get(`${world.issuer}/account`));
  const csrf = formField(login.html, '_csrf');
  const answer = await agent.post(interactionUrl(login, 'passkey/options'), { _csrf: csrf });
  const response = JSON.stringify(authenticator.get(JSON.parse(answer.html)));
  const keys = await agent.follow(await agent.post(interactionUrl(login, 'passkey'), { _csrf: csrf, response }));
  expect(keys.url).toBe(KEYS());
  return { account, agent, codes };
}

/** A member of staff with an authenticator app (and backup codes if asked), signed in to Account settings with the password and a code. */
async function signedInWithApp(email: string, options: { codes?: boolean } = {}) {
  const account: Account = await staff(world, email);
  const form = await world.services.authenticators.beginEnrolment(account);
  await world.services.authenticators.completeEnrolment(account, form.enrolment, 'Phone', codeFor(form.manualKey), where);
  if (options.codes) await world.services.backupCodes.create(account, where);
  const agent = new Agent(REDIRECT_URI);
  const login = await agent.follow(await agent.get(`${world.issuer}/account`));
  const codePage = await agent.follow(await submitLogin(agent, login, email, PASSWORD));
  const keys = await agent.follow(await submitCode(agent, codePage, codeFor(form.manualKey, 1)));
  expect(keys.url).toBe(KEYS());
  return { account, agent };
}

const codeInput = (page: Page) => /<input id="code"[^>]*>/.exec(page.html)?.[0];
const submitConfirm = (agent: Agent, page: Page, code: string) =>
  agent.post(`${world.issuer}/account/confirm`, { _csrf: formField(page.html, '_csrf'), next: NEXT, password: PASSWORD, code });

test('a passkey and nothing else: the passkey first, no password form it could never pass, and what to do if this browser cannot', async () => {
  const { agent } = await signedInWithPasskey('only-passkey@hill.example');
  const page = await confirmOf(agent);
  expect(page.status).toBe(200);
  const text = visibleText(page.html);
  expect(text).toContain('Before you change how you sign in, confirm it’s you with your passkey.');
  expect(text).toContain('Confirm with a passkey');
  expect(text).toContain('If this browser cannot use your passkey, make this change on another computer or phone that has your passkey');
  expect(page.html).not.toContain('id="password"');
  expect(page.html).not.toContain('id="code"');
  expect(text).not.toMatch(/authenticator|backup code/i);
});

test('a passkey and backup codes: the passkey first, then the password and a "Backup code" field that takes letters, refused in its own words', async () => {
  const { agent, codes } = await signedInWithPasskey('passkey-and-codes@hill.example', { codes: true });
  const page = await confirmOf(agent);
  const text = visibleText(page.html);
  expect(text).toContain('confirm it’s you with your passkey, or enter your password and one of your backup codes.');
  expect(text).not.toMatch(/authenticator/i);
  expect(page.html.indexOf('action="/account/confirm/passkey"')).toBeGreaterThan(-1);
  expect(page.html.indexOf('action="/account/confirm/passkey"')).toBeLessThan(page.html.indexOf('id="password"'));
  expect(page.html).toContain('<label for="code">Backup code</label>');
  expect(text).toContain('10 letters and numbers, like abcde-23456.');
  expect(codeInput(page)).toContain('inputmode="text"');
  // With a passkey above it, the password does not take the focus from it.
  expect(/<input id="password"[^>]*>/.exec(page.html)![0]).not.toContain('autofocus');

  const missing = await submitConfirm(agent, page, '');
  expect(missing.status).toBe(400);
  expect(visibleText(missing.html)).toContain('Enter one of your backup codes.');
  const wrong = await submitConfirm(agent, page, 'aaaaa-aaaaa');
  expect(wrong.status).toBe(401);
  expect(visibleText(wrong.html)).toContain('That backup code is not right, or it has been used already.');
  expect(visibleText(wrong.html)).not.toMatch(/authenticator/i);
  const confirmed = await submitConfirm(agent, page, codes[0]!);
  expect(confirmed.location).toBe(`${world.issuer}${NEXT}`);
});

test('an app without backup codes: a numeric field and a hint about the app alone; with codes, letters too and both in the hint', async () => {
  const { agent } = await signedInWithApp('app-only@hill.example');
  const page = await confirmOf(agent);
  expect(page.html).toContain('<label for="code">Code</label>');
  expect(codeInput(page)).toContain('inputmode="numeric"');
  expect(visibleText(page.html)).toContain('The 6-digit code your authenticator app shows now.');
  expect(visibleText(page.html)).not.toMatch(/backup code|passkey/i);
  expect(/<input id="password"[^>]*>/.exec(page.html)![0]).toContain('autofocus');
  const wrong = await submitConfirm(agent, page, '000000');
  expect(visibleText(wrong.html)).toContain('Enter the 6-digit code your authenticator app shows now.');

  const withCodes = await confirmOf((await signedInWithApp('app-and-codes@hill.example', { codes: true })).agent);
  expect(codeInput(withCodes)).toContain('inputmode="text"');
  expect(visibleText(withCodes.html)).toContain('A current code from your authenticator app, or one of your backup codes.');
});

test('Security keys offers backup codes to an account whose only second factor is a passkey, and not to one without a second factor', async () => {
  const { agent } = await signedInWithPasskey('keys-passkey@hill.example');
  const keys = visibleText((await agent.get(KEYS())).html);
  expect(keys).toContain('Create backup codes');
  expect(keys).not.toContain('Add one of those first');

  await staff(world, 'keys-none@hill.example');
  const plain = new Agent(REDIRECT_URI);
  const login = await plain.follow(await plain.get(`${world.issuer}/account`));
  const none = visibleText((await plain.follow(await submitLogin(plain, login, 'keys-none@hill.example', PASSWORD))).html);
  expect(none).toContain('Add one of those first');
  expect(none).not.toContain('Create backup codes');
});
