import type { PublicKeyCredentialCreationOptionsJSON } from '@simplewebauthn/server';
import type { Account } from '../src/db/entities/index.ts';
import { formField, visibleText, type Page } from './support/agent.ts';
import { useGatehouse } from './support/fixture.ts';
import { ageSessionsOf } from './support/gatehouse.ts';
import { codeFor } from './support/totp.ts';
import { SoftAuthenticator } from './support/webauthn.ts';
import {
  type Agent,
  audits,
  authorizationRequest,
  claimsAt,
  fetchFormPost,
  continueWithBasic,
  interactionUrl,
  PASSWORD,
  relyingParty,
  staff,
  start,
  startAtClient,
  submitLogin,
  uidOf,
} from './support/scenario.ts';

/**
 * "Set up a passkey" inside a sign-in, over HTTP (no browser): the routes passkey-account.js
 * calls on the enrolment offer and the step-up enrolment, with a software authenticator standing
 * in for the browser. Only while the account has no second factor, only after fresh proof, CSRF
 * on every post, options never cached, and whatever is posted a refusal is a 4xx in words.
 */

const HIGHER = 'urn:gatehouse:acr:higher';

const world = useGatehouse({ smtp: true });

const soft = () => new SoftAuthenticator(new URL(world.issuer).origin);
const passkeysOf = (account: Account) => world.services.passkeys.list(account.id);

/** A password sign-in at the school system: the page after it (the offer, for a higher member without a second factor). */
async function signIn(email: string, params: Record<string, string> = {}) {
  const { rp, agent, authorization, page: login } = await startAtClient(world, params);
  const afterPassword = await agent.follow(await submitLogin(agent, login, email, PASSWORD));
  return { rp, agent, authorization, afterPassword };
}

/** What passkey-account.js does first: ask for options with the form's CSRF token. */
const askOptions = (agent: Agent, page: Page) =>
  agent.post(interactionUrl(page, 'enrol/passkey/options'), { _csrf: formField(page.html, '_csrf') });

/** What it does last: post the name and the browser's answer. */
const postPasskey = (agent: Agent, page: Page, response: unknown, name = 'Laptop') =>
  agent.post(interactionUrl(page, 'enrol/passkey'), {
    _csrf: formField(page.html, '_csrf'),
    name,
    response: typeof response === 'string' ? response : JSON.stringify(response),
  });

async function optionsOn(agent: Agent, page: Page) {
  const answer = await askOptions(agent, page);
  expect(answer.status).toBe(200);
  return JSON.parse(answer.html) as PublicKeyCredentialCreationOptionsJSON;
}

const auditsOf = (accountId: string, event: string) => audits(world.gatehouse, event, { accountId });

test('the offer’s options are a discoverable passkey with user verification for this account, never cached', async () => {
  const account = await staff(world, 'options@hill.example');
  const { agent, afterPassword } = await signIn('options@hill.example');
  expect(afterPassword.html).toContain(`data-passkey-register="/interaction/${uidOf(afterPassword)}/enrol/passkey/options"`);
  const response = await fetchFormPost(agent, interactionUrl(afterPassword, 'enrol/passkey/options'), {
    _csrf: formField(afterPassword.html, '_csrf'),
  });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  expect(response.headers.get('cache-control')).toBe('no-store');
  const options = (await response.json()) as PublicKeyCredentialCreationOptionsJSON;
  expect(options.rp.id).toBe(new URL(world.issuer).hostname);
  expect(options.user.name).toBe(account.email);
  expect(options.authenticatorSelection).toMatchObject({ residentKey: 'required', userVerification: 'required' });
});

test('a passkey set up at the offer ends the sign-in with higher access, audited and mailed; the offer is not made again', async () => {
  const account = await staff(world, 'offer@hill.example');
  const { rp, agent, authorization, afterPassword } = await signIn('offer@hill.example');
  const authenticator = soft();
  const options = await optionsOn(agent, afterPassword);
  const before = agent.setCookies.length;
  const posted = await postPasskey(agent, afterPassword, authenticator.create(options), 'Work laptop');
  expect(posted.status).toBe(303);
  // As after any second step: the browser is trusted (again, now that the sign-in is complete with higher access).
  expect(agent.setCookies.slice(before).some((header) => header.startsWith('gatehouse.device='))).toBe(true);
  const claims = await claimsAt(rp, await agent.follow(posted), authorization);
  expect(claims).toMatchObject({ sub: account.id, acr: HIGHER, amr: ['pwd', 'hwk', 'user', 'mfa'], access_level: 'higher' });
  expect(await passkeysOf(account)).toMatchObject([{ name: 'Work laptop' }]);
  expect(await auditsOf(account.id, 'passkey.register')).toEqual([{ outcome: 'success', reason: null }]);
  await world.smtp.waitFor('offer@hill.example', /A passkey was added/);

  // The account has a second factor now: the next sign-in asks for it, and no enrolment is open.
  const next = await signIn('offer@hill.example');
  expect(visibleText(next.afterPassword.html)).toContain('Use your passkey');
  expect((await askOptions(next.agent, next.afterPassword)).status).toBe(400);
  expect((await next.agent.get(interactionUrl(next.afterPassword, 'enrol/passkey'))).status).toBe(400);
});

test('only while the account has no second factor: with a device, a password alone cannot add a passkey', async () => {
  const account = await staff(world, 'device@hill.example');
  const form = await world.services.authenticators.beginEnrolment(account);
  await world.services.authenticators.completeEnrolment(account, form.enrolment, 'Phone', codeFor(form.manualKey), { ip: '192.0.2.1' });
  const { agent, afterPassword } = await signIn('device@hill.example', { acr_values: HIGHER });
  expect(visibleText(afterPassword.html)).toContain('Enter your code');
  const options = await askOptions(agent, afterPassword);
  expect(options.status).toBe(400);
  expect(options.html).not.toContain('challenge');
  // An answer to a ceremony of its own is refused before it is looked at.
  const stray = soft().create(await world.services.passkeys.registrationOptions(account, 'another-session'));
  expect((await postPasskey(agent, afterPassword, stray)).status).toBe(400);
  expect(await passkeysOf(account)).toHaveLength(0);
});

test('never before the password: at the login prompt there is no enrolment', async () => {
  const { agent, page: login } = await startAtClient(world);
  expect((await askOptions(agent, login)).status).toBe(400);
  expect((await agent.get(interactionUrl(login, 'enrol/passkey'))).status).toBe(400);
});

test('CSRF on every post: without the token, no options and no passkey', async () => {
  const account = await staff(world, 'csrf@hill.example');
  const { agent, afterPassword } = await signIn('csrf@hill.example');
  const options = await optionsOn(agent, afterPassword);
  const created = soft().create(options);
  expect((await agent.post(interactionUrl(afterPassword, 'enrol/passkey/options'), {})).status).toBe(403);
  const forged = await agent.post(interactionUrl(afterPassword, 'enrol/passkey'), { name: 'Laptop', response: JSON.stringify(created) });
  expect(forged.status).toBe(403);
  expect(await passkeysOf(account)).toHaveLength(0);
});

test('refusals are words on the passkey’s page with a 4xx, never a 5xx, and nothing is stored', async () => {
  const account = await staff(world, 'refused@hill.example');
  const { rp, agent, authorization, afterPassword } = await signIn('refused@hill.example');
  const authenticator = soft();
  const made = (tamper: Parameters<SoftAuthenticator['create']>[1]) => async () =>
    authenticator.create(await optionsOn(agent, afterPassword), tamper);
  const refusals: Array<[() => Promise<unknown>, string, string]> = [
    [async () => 'not json', 'Laptop', 'The passkey could not be created.'],
    [async () => ({ id: 'x', type: 'public-key' }), 'Laptop', 'The passkey could not be created.'],
    [async () => '', '', 'Give this passkey a name'],
    [async () => '', 'x'.repeat(61), 'Use at most 60 characters'],
    [made({ origin: 'https://phish.example' }), 'Laptop', 'The passkey could not be created.'],
    [made({ challenge: 'bm90LXRoaXMtb25l' }), 'Laptop', 'The passkey could not be created.'],
    [made({ userVerified: false }), 'Laptop', 'The passkey could not be created.'],
  ];
  for (const [response, name, words] of refusals) {
    const page = await postPasskey(agent, afterPassword, await response(), name);
    expect({ words, status: page.status }).toEqual({ words, status: 400 });
    expect(visibleText(page.html)).toContain(words);
    expect(visibleText(page.html)).toContain('Set up a passkey');
  }
  expect(await auditsOf(account.id, 'passkey.register')).toHaveLength(3);
  expect(await passkeysOf(account)).toHaveLength(0);

  // The sign-in goes on: the next passkey is set up.
  const callback = await agent.follow(await postPasskey(agent, afterPassword, soft().create(await optionsOn(agent, afterPassword))));
  expect(await claimsAt(rp, callback, authorization)).toMatchObject({ acr: HIGHER });
});

test('a step-up needs fresh proof first: stale, the options send the script to confirm, and confirming comes back to the passkey', async () => {
  const account = await staff(world, 'stepup@hill.example');
  const first = await signIn('stepup@hill.example');
  await continueWithBasic(first.agent, first.afterPassword);
  await ageSessionsOf(world.gatehouse, account.id);

  const rp = await relyingParty(world.issuer, world.credentials);
  const authorization = await authorizationRequest(rp, { acr_values: HIGHER });
  const { agent } = first;
  const enrol = await start(agent, authorization);
  expect(enrol.url).toMatch(/\/enrol$/);
  expect(visibleText(enrol.html)).toContain('Confirm it’s you');

  // The passkey's options and its page both ask for the proof first; a post stores nothing.
  const stale = await askOptions(agent, enrol);
  expect(stale.status).toBe(403);
  expect(JSON.parse(stale.html)).toEqual({ confirm: `/interaction/${uidOf(enrol)}/enrol/passkey` });
  const passkeyPage = await agent.get(interactionUrl(enrol, 'enrol/passkey'));
  expect(visibleText(passkeyPage.html)).toContain('Confirm it’s you');
  expect(passkeyPage.html).toContain('name="next" value="passkey"');
  const unproven = await postPasskey(agent, enrol, soft().create(await world.services.passkeys.registrationOptions(account, 'x')));
  expect(visibleText(unproven.html)).toContain('Confirm it’s you');
  expect(await passkeysOf(account)).toHaveLength(0);

  // "next" goes back to the passkey's page, and to nowhere but the sign-in's own pages.
  const confirmUrl = interactionUrl(enrol, 'confirm');
  const elsewhere = await agent.post(confirmUrl, {
    _csrf: formField(enrol.html, '_csrf'),
    password: PASSWORD,
    next: 'https://phish.example/',
  });
  expect(elsewhere.location).toBe(interactionUrl(enrol, 'enrol'));
  const confirmed = await agent.post(confirmUrl, { _csrf: formField(enrol.html, '_csrf'), password: PASSWORD, next: 'passkey' });
  expect(confirmed.status).toBe(303);
  expect(confirmed.location).toBe(interactionUrl(enrol, 'enrol/passkey'));
  const page = await agent.follow(confirmed);
  expect(visibleText(page.html)).toContain('Hill MIS asked for higher access.');
  expect(visibleText(page.html)).toContain('Set up a passkey');
  expect(page.html).toContain(`action="/interaction/${uidOf(enrol)}/decline"`);

  const callback = await agent.follow(await postPasskey(agent, page, soft().create(await optionsOn(agent, page))));
  expect(await claimsAt(rp, callback, authorization)).toMatchObject({
    acr: HIGHER,
    amr: ['pwd', 'hwk', 'user', 'mfa'],
    access_level: 'higher',
  });
});

test('the step-up enrolment page offers the passkey before the app; Account settings’ device page does not', async () => {
  await staff(world, 'both@hill.example');
  const first = await signIn('both@hill.example');
  await continueWithBasic(first.agent, first.afterPassword);
  const rp = await relyingParty(world.issuer, world.credentials);
  const enrol = await start(first.agent, await authorizationRequest(rp, { acr_values: HIGHER }));
  const passkeyAt = enrol.html.indexOf(`href="/interaction/${uidOf(enrol)}/enrol/passkey"`);
  expect(passkeyAt).toBeGreaterThan(0);
  // Under the page's heading (read in heading order), before the app's steps: the passkey first.
  expect(passkeyAt).toBeGreaterThan(enrol.html.indexOf('<h2>Add new device</h2>'));
  expect(passkeyAt).toBeLessThan(enrol.html.indexOf('<ol class="steps">'));

  const account = await first.agent.follow(await first.agent.get(`${world.issuer}/account/security-keys/new`));
  expect(account.html).toContain('<h2>Add new device</h2>');
  expect(account.html).not.toContain('enrol/passkey');
});
