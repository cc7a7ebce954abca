import crypto from 'node:crypto';
import { jest } from '@jest/globals';
import type { PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { PASSKEY_THROTTLE } from '../src/auth/throttle.ts';
import type { Account } from '../src/db/entities/index.ts';
import { passkeyAmr } from '../src/domain/access.ts';
import { formField, visibleText, type Page } from './support/agent.ts';
import { useGatehouse } from './support/fixture.ts';
import { freePort } from './support/gatehouse.ts';
import { spawnGatehouse } from './support/process.ts';
import { RawAgent } from './support/raw-http.ts';
import { codeFor } from './support/totp.ts';
import { addPasskey } from './support/webauthn.ts';
import {
  type Agent,
  audits,
  authorizationRequest,
  claimsAt,
  fetchFormPost,
  interactionUrl,
  PASSWORD,
  REDIRECT_URI,
  relyingParty,
  staff,
  startAtClient,
  submitLogin,
  uidOf,
} from './support/scenario.ts';

/**
 * "Sign in with a passkey" and a passkey as the second step, over HTTP (no browser): the routes
 * the page's script calls, with a software authenticator standing in for the browser's
 * WebAuthn. What the options say, that a passkey sign-in is complete (acr higher, no code page),
 * and that whatever is posted, a refusal is a 4xx page in words, never a 5xx.
 */

const world = useGatehouse({ smtp: true });

const FIVE_MINUTES_MS = 5 * 60 * 1000;
const where = { ip: '192.0.2.9' };
const passkeys = () => world.services.passkeys;
/** A device too, for an account that has both ways. */
async function addDevice(account: Account) {
  const form = await world.services.authenticators.beginEnrolment(account);
  await world.services.authenticators.completeEnrolment(account, form.enrolment, 'Phone', codeFor(form.manualKey), where);
}

/** A browser at the school system's login page: the interaction is at the login prompt. */
async function atLogin(params: Record<string, string> = {}) {
  const started = await startAtClient(world, params);
  const { page } = started;
  expect(page.status).toBe(200);
  expect(page.url).toMatch(/\/interaction\/[A-Za-z0-9_-]+$/);
  return started;
}

/** What the page's script does first: ask for options with the form's CSRF token. */
async function optionsOn(agent: Agent, page: Page, path = 'passkey/options') {
  const answer = await agent.post(interactionUrl(page, path), { _csrf: formField(page.html, '_csrf') });
  expect(answer.status).toBe(200);
  return JSON.parse(answer.html) as PublicKeyCredentialRequestOptionsJSON;
}

/** What the page's script does last: post the assertion in the form. */
function postPasskey(agent: Agent, page: Page, response: unknown, extra: Record<string, string> = {}, path = 'passkey') {
  const json = typeof response === 'string' ? response : JSON.stringify(response);
  return agent.post(interactionUrl(page, path), { _csrf: formField(page.html, '_csrf'), response: json, ...extra });
}

const lastAudit = async (event: string, accountId: string) => (await audits(world.gatehouse, event, { accountId })).at(-1);

describe('the options for "Sign in with a passkey"', () => {
  test('are for ISSUER’s host, any discoverable passkey, with user verification, for five minutes, never cached', async () => {
    const { agent, page } = await atLogin();
    const response = await fetchFormPost(agent, interactionUrl(page, 'passkey/options'), { _csrf: formField(page.html, '_csrf') });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const options = (await response.json()) as PublicKeyCredentialRequestOptionsJSON;
    expect(options.rpId).toBe(new URL(world.issuer).hostname);
    expect(options.userVerification).toBe('required');
    expect(options.allowCredentials ?? []).toEqual([]);
    expect(options.timeout).toBe(FIVE_MINUTES_MS);
    expect(options.challenge).toMatch(/^[A-Za-z0-9_-]{22,}$/);
  });

  test('a second call replaces the first challenge: an answer to the first is refused, one to the second signs in', async () => {
    const account = await staff(world, 'again@hill.example');
    const { authenticator } = await addPasskey(world, account);
    const { rp, agent, authorization, page } = await atLogin();
    const first = await optionsOn(agent, page);
    const second = await optionsOn(agent, page);
    expect(second.challenge).not.toBe(first.challenge);

    const stale = await postPasskey(agent, page, authenticator.get(first));
    expect(stale.status).toBe(403);
    expect(visibleText(stale.html)).toContain('That passkey was not accepted.');
    expect(await lastAudit('sign_in.passkey', account.id)).toEqual({ outcome: 'failure', reason: 'challenge' });

    const callback = await agent.follow(await postPasskey(agent, page, authenticator.get(second)));
    expect(await claimsAt(rp, callback, authorization)).toMatchObject({ acr: 'urn:gatehouse:acr:higher' });
  });
});

describe('"Sign in with a passkey"', () => {
  test('is both factors: no code page, acr higher, amr hwk user mfa, higher access; the browser is trusted', async () => {
    const account = await staff(world, 'head@hill.example');
    await addDevice(account); // a device too: the passkey alone still needs no code
    const { authenticator } = await addPasskey(world, account);
    const { rp, agent, authorization, page } = await atLogin();
    const posted = await postPasskey(agent, page, authenticator.get(await optionsOn(agent, page)));
    expect(posted.status).toBe(303);
    expect(agent.setCookies.some((header) => header.startsWith('gatehouse.device='))).toBe(true);
    const claims = await claimsAt(rp, await agent.follow(posted), authorization);
    expect(claims).toMatchObject({
      sub: account.id,
      acr: 'urn:gatehouse:acr:higher',
      amr: ['hwk', 'user', 'mfa'],
      access_level: 'higher',
      school: { id: world.schoolId },
    });
    expect(await lastAudit('sign_in.passkey', account.id)).toEqual({ outcome: 'success', reason: null });
  });

  test('a synced passkey says swk', async () => {
    const account = await staff(world, 'synced@hill.example');
    const { authenticator } = await addPasskey(world, account, { backupEligible: true });
    const { rp, agent, authorization, page } = await atLogin();
    const callback = await agent.follow(await postPasskey(agent, page, authenticator.get(await optionsOn(agent, page))));
    expect(await claimsAt(rp, callback, authorization)).toMatchObject({ amr: ['swk', 'user', 'mfa'] });
  });

  test('"Keep me signed in" is the page’s box: the session cookie lasts only when it was ticked', async () => {
    const account = await staff(world, 'remember@hill.example', 'basic');
    const { authenticator } = await addPasskey(world, account);
    const sessionCookies = (agent: Agent) => agent.setCookies.filter((header) => /^_session=/.test(header));
    for (const remember of [false, true]) {
      const { agent, page } = await atLogin();
      const options = await optionsOn(agent, page);
      await agent.follow(await postPasskey(agent, page, authenticator.get(options), remember ? { remember: 'yes' } : {}));
      const set = sessionCookies(agent);
      expect(set.length).toBeGreaterThan(0);
      for (const header of set) {
        if (remember) expect(header).toMatch(/expires=/i);
        else expect(header).not.toMatch(/expires=|max-age=/i);
      }
    }
  });

  test('the language of the page is remembered for the person’s mails', async () => {
    const account = await staff(world, 'cymraeg@hill.example', 'basic');
    const { authenticator } = await addPasskey(world, account);
    expect((await world.services.accounts.findById(account.id))!.language).not.toBe('cy');
    const { agent, page } = await atLogin({ ui_locales: 'cy' });
    await agent.follow(await postPasskey(agent, page, authenticator.get(await optionsOn(agent, page))));
    expect((await world.services.accounts.findById(account.id))!.language).toBe('cy');
  });

  test('a removed passkey is refused in words, on the login page, with the password as the way on', async () => {
    const account = await staff(world, 'removed@hill.example');
    const { authenticator, passkey } = await addPasskey(world, account);
    await passkeys().remove(account, passkey.id, where);
    const { agent, page } = await atLogin();
    const refused = await postPasskey(agent, page, authenticator.get(await optionsOn(agent, page)));
    expect(refused.status).toBe(403);
    expect(visibleText(refused.html)).toContain(
      'That passkey was not accepted. It may have been removed from your account. Log in with your email address and password instead.',
    );
    expect(refused.html).toContain('<label for="email">Email address</label>');
    expect(refused.html).not.toContain('aria-invalid');
    // The password still works from the same page.
    const after = await submitLogin(agent, refused, 'removed@hill.example', PASSWORD);
    expect(after.status).toBe(303);
  });

  test('a passkey that did not prove both factors does not sign in alone: refused in words, no session, no trusted browser', async () => {
    const account = await staff(world, 'one-factor@hill.example');
    const { authenticator } = await addPasskey(world, account);
    // As if the service stopped requiring user verification at a sign-in: the passkey alone is one factor.
    const service = passkeys();
    const verify = service.verify.bind(service);
    const spy = jest.spyOn(service, 'verify').mockImplementation(async (...args) => {
      const check = await verify(...args);
      return check.ok ? { ...check, amr: passkeyAmr({ backupEligible: false, userVerified: false, afterPassword: false }) } : check;
    });
    try {
      const { agent, page } = await atLogin();
      const refused = await postPasskey(agent, page, authenticator.get(await optionsOn(agent, page)));
      expect(spy).toHaveBeenCalledTimes(1);
      expect(refused.status).toBe(403);
      expect(visibleText(refused.html)).toContain('That passkey was not accepted.');
      expect(agent.setCookies.some((header) => header.startsWith('gatehouse.device='))).toBe(false);
      // Still at the login page: the password is the way on.
      expect((await submitLogin(agent, refused, 'one-factor@hill.example', PASSWORD)).status).toBe(303);
    } finally {
      spy.mockRestore();
    }
  });

  test('a locked account is refused with the words a locked account gets for a password', async () => {
    const account = await staff(world, 'locked@hill.example');
    const { authenticator } = await addPasskey(world, account);
    await world.services.repositories.accounts.setStatus(account.id, 'locked');
    const { agent, page } = await atLogin();
    const refused = await postPasskey(agent, page, authenticator.get(await optionsOn(agent, page)));
    expect(refused.status).toBe(423);
    expect(visibleText(refused.html)).toContain('This account is locked. Ask your school’s IT helpdesk to unlock it.');
  });

  test(`${PASSKEY_THROTTLE.failuresPerCeremony} refused passkeys pause passkeys on that page (429, in words); the password still works there`, async () => {
    const account = await staff(world, 'paused@hill.example');
    const { authenticator } = await addPasskey(world, account);
    const { agent, page } = await atLogin();
    for (let failure = 0; failure < PASSKEY_THROTTLE.failuresPerCeremony; failure += 1) {
      const refused = await postPasskey(agent, page, authenticator.get(await optionsOn(agent, page), { userVerified: false }));
      expect(refused.status).toBe(403);
    }
    const paused = await postPasskey(agent, page, authenticator.get(await optionsOn(agent, page)));
    expect(paused.status).toBe(429);
    expect(visibleText(paused.html)).toContain(
      'Too many passkeys were refused on this page, so passkeys are paused here for 15 minutes. Log in with your email address and password instead.',
    );
    // Nothing of the answer was read, so the refusal names no account.
    const [audited] = await world.gatehouse.database.dataSource.query(
      `SELECT outcome, reason, account_id FROM audit_events WHERE event = 'sign_in.passkey' ORDER BY id DESC LIMIT 1`,
    );
    expect(audited).toEqual({ outcome: 'failure', reason: 'throttled', account_id: null });
    // Another sign-in from the same school (the same IP) is not paused.
    const other = await atLogin();
    expect((await postPasskey(other.agent, other.page, authenticator.get(await optionsOn(other.agent, other.page)))).status).toBe(303);
    // And the password still signs in from the paused page.
    expect((await submitLogin(agent, paused, 'paused@hill.example', PASSWORD)).status).toBe(303);
  });

  test('the Welsh page says the refusal in Welsh', async () => {
    const { agent, page } = await atLogin({ ui_locales: 'cy' });
    const refused = await postPasskey(agent, page, 'not json');
    expect(refused.status).toBe(400);
    expect(visibleText(refused.html)).toContain('Ni chafodd yr allwedd mynediad honno ei derbyn.');
  });
});

describe('whatever is posted, a 4xx page in words, never a 5xx', () => {
  const rpIdHash = crypto.createHash('sha256').update('localhost').digest('base64url');
  const bodies: Array<[string, Record<string, string>, number, string]> = [
    ['no response', {}, 400, 'That passkey was not accepted.'],
    ['not JSON', { response: '{"id": ' }, 400, 'That passkey was not accepted.'],
    ['JSON of the wrong shape', { response: JSON.stringify({ id: 1, response: 'x' }) }, 400, 'That passkey was not accepted.'],
    ['an array', { response: '[]' }, 400, 'That passkey was not accepted.'],
    ['a string', { response: '"hello"' }, 400, 'That passkey was not accepted.'],
    ['null', { response: 'null' }, 400, 'That passkey was not accepted.'],
    [
      'the right shape, made up',
      {
        response: JSON.stringify({
          id: 'AAAA',
          rawId: 'AAAA',
          type: 'public-key',
          response: { clientDataJSON: 'e30', authenticatorData: rpIdHash, signature: 'AAAA', userHandle: 'AAAA' },
          clientExtensionResults: {},
        }),
      },
      403,
      'That passkey was not accepted.',
    ],
    [
      'not base64url',
      {
        response: JSON.stringify({
          id: 'a b',
          rawId: 'a b',
          type: 'public-key',
          response: { clientDataJSON: '<', authenticatorData: '>', signature: '!' },
          clientExtensionResults: {},
        }),
      },
      400,
      'That passkey was not accepted.',
    ],
    ['a NUL character', { response: '{"id":"\u0000"}' }, 400, 'We could not read that form'],
    ['too long for the field', { response: 'x'.repeat(12_001) }, 400, 'We could not read that form'],
    ['too long for a form', { response: 'x'.repeat(20_000) }, 413, 'We could not read that request'],
  ];

  test.each(bodies)('%s', async (_name, form, status, words) => {
    const { agent, page } = await atLogin();
    const answer = await agent.post(interactionUrl(page, 'passkey'), { _csrf: formField(page.html, '_csrf'), ...form });
    expect(answer.status).toBe(status);
    expect(visibleText(answer.html)).toContain(words);
  });

  test('the same field twice (an array) is not a form of ours', async () => {
    const { agent, page } = await atLogin();
    const body = new URLSearchParams([
      ['_csrf', formField(page.html, '_csrf')],
      ['response', '{}'],
      ['response', '{}'],
    ]).toString();
    const answer = await agent.send(interactionUrl(page, 'passkey'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
    expect(answer.status).toBe(400);
    expect(visibleText(answer.html)).toContain('We could not read that form');
  });

  test('without the CSRF token, neither options nor an answer: the form has expired', async () => {
    const { agent, page } = await atLogin();
    for (const path of ['passkey/options', 'passkey', 'passkey/second-step/options', 'passkey/second-step']) {
      const answer = await agent.post(interactionUrl(page, path), { response: '{}' });
      expect([path, answer.status]).toEqual([path, 403]);
      expect(visibleText(answer.html)).toContain('This form has expired');
    }
    const wrong = await agent.post(interactionUrl(page, 'passkey/options'), { _csrf: 'x'.repeat(43) });
    expect(wrong.status).toBe(403);
  });
});

describe('only at the right step', () => {
  test('sign-in options and answers are refused once the password is given; second-step ones before it', async () => {
    const account = await staff(world, 'steps@hill.example');
    const { authenticator } = await addPasskey(world, account);
    const { agent, page } = await atLogin();

    // At the login prompt, the second step's routes do not answer.
    for (const path of ['passkey/second-step/options', 'passkey/second-step']) {
      const answer = await agent.post(interactionUrl(page, path), { _csrf: formField(page.html, '_csrf'), response: '{}' });
      expect([path, answer.status]).toEqual([path, 400]);
      expect(visibleText(answer.html)).toContain('This sign-in has expired');
    }
    const options = await optionsOn(agent, page);

    // After the password, at the second step, the sign-in routes do not answer.
    const codePage = await agent.follow(await submitLogin(agent, page, 'steps@hill.example', PASSWORD));
    expect(visibleText(codePage.html)).toContain('Use your passkey');
    const late = await postPasskey(agent, codePage, authenticator.get(options));
    expect(late.status).toBe(400);
    expect(visibleText(late.html)).toContain('This sign-in has expired');
    const moreOptions = await agent.post(interactionUrl(codePage, 'passkey/options'), { _csrf: formField(codePage.html, '_csrf') });
    expect(moreOptions.status).toBe(400);
  });
});

describe('a passkey as the second step', () => {
  /** Password given: the browser is at the second step. */
  async function afterPassword(email: string) {
    const login = await atLogin();
    const page = await login.agent.follow(await submitLogin(login.agent, login.page, email, PASSWORD));
    expect(page.status).toBe(200);
    return { ...login, page };
  }

  test('an account with only a passkey is asked for it: no code field, words that fit, the passkey’s options only', async () => {
    const account = await staff(world, 'only-passkey@hill.example');
    const { authenticator, passkey } = await addPasskey(world, account);
    const other = await addPasskey(world, await staff(world, 'someone-else@hill.example'));
    const { rp, agent, authorization, page } = await afterPassword('only-passkey@hill.example');
    const text = visibleText(page.html);
    expect(page.html).toContain('<title>Use your passkey – Hill Primary School</title>');
    expect(page.html).toMatch(/<h2>Use your passkey<\/h2>/);
    expect(page.html).not.toContain('name="code"');
    expect(text).not.toContain('Enter your code');
    expect(text).toContain('This browser cannot use passkeys.');
    expect(text).toContain('Lost your passkey, or the device it is on? Ask your school’s IT helpdesk to reset your passkeys.');
    expect(text).not.toContain('Lost your device?');

    const options = await optionsOn(agent, page, 'passkey/second-step/options');
    expect(options.rpId).toBe(new URL(world.issuer).hostname);
    expect(options.allowCredentials?.map((allowed) => allowed.id)).toEqual([
      (await world.services.repositories.passkeys.listForAccount(account.id))[0]!.credentialId,
    ]);
    expect(passkey.name).toBe('Laptop');

    // Another account's passkey does not pass this account's second step.
    const foreign = await postPasskey(agent, page, other.authenticator.get(options), {}, 'passkey/second-step');
    expect(foreign.status).toBe(403);
    expect(visibleText(foreign.html)).toContain('That passkey was not accepted. Use a passkey you added to this account, and try again.');
    expect(foreign.html).toMatch(/<h2>Use your passkey<\/h2>/);
    expect(await lastAudit('sign_in.passkey_second_step', account.id)).toEqual({ outcome: 'failure', reason: 'other_account' });

    const again = await optionsOn(agent, page, 'passkey/second-step/options');
    const posted = await postPasskey(agent, page, authenticator.get(again), {}, 'passkey/second-step');
    expect(posted.status).toBe(303);
    expect(agent.setCookies.some((header) => header.startsWith('gatehouse.device='))).toBe(true);
    const claims = await claimsAt(rp, await agent.follow(posted), authorization);
    expect(claims).toMatchObject({ acr: 'urn:gatehouse:acr:higher', amr: ['pwd', 'hwk', 'user', 'mfa'], access_level: 'higher' });
  });

  test('an account with a device and a passkey gets the code form, and the passkey instead', async () => {
    const account = await staff(world, 'both@hill.example');
    await addDevice(account);
    const { authenticator } = await addPasskey(world, account, { backupEligible: true });
    const { rp, agent, authorization, page } = await afterPassword('both@hill.example');
    const text = visibleText(page.html);
    expect(page.html).toContain('<title>Enter your code – Hill Primary School</title>');
    expect(page.html).toContain('name="code"');
    expect(text).toContain('Use your passkey instead');
    expect(text).not.toContain('This browser cannot use passkeys.');
    expect(text).toContain('Lost your authenticator device and your passkey?');

    const callback = await agent.follow(
      await postPasskey(
        agent,
        page,
        authenticator.get(await optionsOn(agent, page, 'passkey/second-step/options')),
        {},
        'passkey/second-step',
      ),
    );
    expect(await claimsAt(rp, callback, authorization)).toMatchObject({
      acr: 'urn:gatehouse:acr:higher',
      amr: ['pwd', 'swk', 'user', 'mfa'],
    });
  });

  test('an account with a device only sees no passkey at all', async () => {
    await addDevice(await staff(world, 'device-only@hill.example'));
    const { page } = await afterPassword('device-only@hill.example');
    expect(page.html).not.toContain('/passkey/second-step');
    expect(page.html).not.toContain('passkey-sign-in.js');
    expect(visibleText(page.html)).toContain('Lost your device? Ask your school’s IT helpdesk to reset your authenticator.');
  });

  test('bad answers are 4xx pages in words at the second step too', async () => {
    await addPasskey(world, await staff(world, 'bad-second@hill.example'));
    const { agent, page } = await afterPassword('bad-second@hill.example');
    for (const response of ['', 'garbage', '{"id":"x"}', JSON.stringify({ id: 'AAAA', rawId: 'AAAA', type: 'public-key', response: {} })]) {
      const answer = await postPasskey(agent, page, response, {}, 'passkey/second-step');
      expect([response, answer.status]).toEqual([response, 400]);
      expect(visibleText(answer.html)).toContain('That passkey was not accepted.');
    }
    const long = await postPasskey(agent, page, 'x'.repeat(12_001), {}, 'passkey/second-step');
    expect(long.status).toBe(400);
  });
});

test('in a spawned process, the options’ rpId is ISSUER’s host, whatever Host or X-Forwarded-Host say', async () => {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const server = await spawnGatehouse(world.storage, port, { ISSUER: issuer, TRUST_PROXY: 'true' });
  try {
    const rp = await relyingParty(issuer, world.credentials);
    const agent = new RawAgent(REDIRECT_URI, { host: 'evil.example', 'x-forwarded-host': 'evil.example' });
    const page = await agent.follow(await agent.get((await authorizationRequest(rp)).url));
    expect(page.status).toBe(200);
    const answer = await agent.post(`${issuer}/interaction/${uidOf(page)}/passkey/options`, { _csrf: formField(page.html, '_csrf') });
    expect(answer.status).toBe(200);
    const options = JSON.parse(answer.html) as PublicKeyCredentialRequestOptionsJSON;
    expect(options.rpId).toBe('127.0.0.1');
    expect(options.userVerification).toBe('required');
    expect(options.timeout).toBe(FIVE_MINUTES_MS);
  } finally {
    await server.stop();
  }
}, 60_000);
