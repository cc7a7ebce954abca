import { accountSubject, THROTTLE } from '../src/auth/throttle.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { ageSessionsOf, startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { formField, qrImage, visibleText, type Page } from './support/agent.ts';
import { startSmtpServer } from './support/smtp.ts';
import { codeFor, decodeQrDataUrl, parseOtpauth } from './support/totp.ts';
import {
  addClient,
  addSchool,
  addStaff,
  Agent,
  authorizationRequest,
  continueWithBasic,
  exchange,
  PASSWORD,
  REDIRECT_URI,
  relyingParty,
  start,
  submitCode,
  submitLogin,
} from './support/scenario.ts';

let storage: TestStorage;
let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
let gatehouse: TestGatehouse;
let schoolId: string;
let credentials: { clientId: string; clientSecret: string };

beforeAll(async () => {
  storage = await createTestStorage();
  smtp = await startSmtpServer();
  gatehouse = await startTestGatehouse(storage, { SMTP_URL: smtp.url });
  schoolId = (await addSchool(gatehouse.services, 'Hill Primary School')).id;
  credentials = await addClient(gatehouse.services, 'Hill MIS', [schoolId]);
});

afterAll(async () => {
  await gatehouse?.close();
  await smtp?.close();
  await storage?.drop();
});

const KEYS = () => `${gatehouse.issuer}/account/security-keys`;
const accountIdOf = async (email: string) => (await gatehouse.services.accounts.findByEmail(email))!.id;

type Enrolment = { page: Page; secret: string };

const enrolmentOn = (page: Page): Enrolment => ({ page, secret: parseOtpauth(decodeQrDataUrl(qrImage(page.html))).secret });

async function saveDevice(agent: Agent, enrolment: Enrolment, name: string, code: string): Promise<Page> {
  const action = new URL(/<form method="post" action="([^"]+)"/.exec(enrolment.page.html)![1]!, enrolment.page.url).toString();
  return agent.post(action, {
    _csrf: formField(enrolment.page.html, '_csrf'),
    enrolment: formField(enrolment.page.html, 'enrolment'),
    name,
    code,
  });
}

/** A member of staff who signed in to /account and added "Phone": returns the browser and the secret. */
async function withPhone(email: string) {
  await addStaff(gatehouse.services, email, [{ schoolId, accessLevel: 'higher' }]);
  const agent = new Agent(REDIRECT_URI);
  const login = await agent.follow(await agent.get(`${gatehouse.issuer}/account`));
  await agent.follow(await submitLogin(agent, login, email, PASSWORD));
  const enrolment = enrolmentOn(await agent.get(`${KEYS()}/new`));
  const saved = await agent.follow(await saveDevice(agent, enrolment, 'Phone', codeFor(enrolment.secret)));
  expect(visibleText(saved.html)).toContain('Your new device is saved.');
  return { agent, secret: enrolment.secret };
}

/** Ten minutes pass for the account's sessions (see ageSessionsOf). */
const ageSessions = async (email: string) => ageSessionsOf(gatehouse, await accountIdOf(email));

const confirmUrl = (next: string) => `${gatehouse.issuer}/account/confirm?${new URLSearchParams({ next })}`;

async function submitConfirm(agent: Agent, page: Page, answers: { password: string; code: string }): Promise<Page> {
  return agent.post(`${gatehouse.issuer}/account/confirm`, {
    _csrf: formField(page.html, '_csrf'),
    next: formField(page.html, 'next'),
    ...answers,
  });
}

async function devicesOf(email: string) {
  return (await gatehouse.services.authenticators.list(await accountIdOf(email))).map((device) => device.name);
}

test('a stolen signed-in browser cannot add or remove a device without the password and a code; with both it can', async () => {
  const email = 'head@hill.example';
  const { agent, secret } = await withPhone(email);
  await ageSessions(email);
  const phoneId = (await gatehouse.services.authenticators.list(await accountIdOf(email)))[0]!.id;

  // Adding: sent to "confirm it's you", no QR code.
  const add = await agent.get(`${KEYS()}/new`);
  expect(add.status).toBe(303);
  expect(add.location).toBe(confirmUrl('/account/security-keys/new'));
  const confirm = await agent.get(add.location!);
  expect(visibleText(confirm.html)).toContain('Confirm it’s you');
  expect(confirm.html).toContain('<label for="password">Password</label>');
  expect(confirm.html).toContain('<label for="code">Code</label>');
  expect(confirm.html).not.toContain('class="qr"');

  // Posting an enrolment straight away (a sealed one from earlier, say) is refused the same way.
  const csrf = formField(confirm.html, '_csrf');
  const posted = await agent.post(`${KEYS()}/new`, { _csrf: csrf, enrolment: 'x', name: 'Thief', code: '123456' });
  expect(posted.status).toBe(303);
  expect(posted.location).toBe(confirmUrl('/account/security-keys/new'));

  // Removing: neither the page nor the post works.
  const removePath = `/account/security-keys/${phoneId}/remove`;
  expect((await agent.get(`${gatehouse.issuer}${removePath}`)).location).toBe(confirmUrl(removePath));
  const removePost = await agent.post(`${gatehouse.issuer}${removePath}`, { _csrf: csrf });
  expect(removePost.location).toBe(confirmUrl(removePath));
  expect(await devicesOf(email)).toEqual(['Phone']);

  // The password alone is not enough once there is a device; a code alone neither; a wrong one of them neither.
  const noCode = await submitConfirm(agent, confirm, { password: PASSWORD, code: '' });
  expect(noCode.status).toBe(400);
  expect(visibleText(noCode.html)).toContain('Enter the 6-digit code your authenticator app shows now.');
  const noPassword = await submitConfirm(agent, confirm, { password: '', code: codeFor(secret, 1) });
  expect(noPassword.status).toBe(400);
  expect(visibleText(noPassword.html)).toContain('Enter your password.');
  const wrongPassword = await submitConfirm(agent, confirm, { password: 'the thief guesses this', code: codeFor(secret, 1) });
  expect(wrongPassword.status).toBe(401);
  expect(visibleText(wrongPassword.html)).toContain('That password is not right.');
  const wrongCode = await submitConfirm(agent, confirm, { password: PASSWORD, code: codeFor(secret, 5) });
  expect(wrongCode.status).toBe(401);
  expect(visibleText(wrongCode.html)).toContain('That code is not right');
  expect((await agent.get(`${KEYS()}/new`)).location).toBe(confirmUrl('/account/security-keys/new'));

  // Both, right: back to what it was doing, and the change goes through.
  const confirmed = await submitConfirm(agent, confirm, { password: PASSWORD, code: codeFor(secret, 1) });
  expect(confirmed.status).toBe(303);
  expect(confirmed.location).toBe(`${gatehouse.issuer}/account/security-keys/new`);
  const tablet = enrolmentOn(await agent.get(confirmed.location!));
  const saved = await agent.follow(await saveDevice(agent, tablet, 'Tablet', codeFor(tablet.secret)));
  expect(visibleText(saved.html)).toContain('Your new device is saved.');

  // Removing the Phone with the Tablet's code (the latest proof): the owner is told, in words.
  const removePage = await agent.get(`${gatehouse.issuer}${removePath}`);
  expect(removePage.status).toBe(200);
  const removed = await agent.follow(await agent.post(`${gatehouse.issuer}${removePath}`, { _csrf: formField(removePage.html, '_csrf') }));
  expect(visibleText(removed.html)).toContain('The device has been removed.');
  expect(await devicesOf(email)).toEqual(['Tablet']);
  const mail = await smtp.waitFor(email, /authenticator was removed/);
  expect(mail.text).toContain('An authenticator device (Phone) was removed');
  expect(mail.text).toContain('a code from another of your devices: Tablet');
  expect(mail.text).toContain('your account may be compromised');
  expect(mail.text).toContain("Contact your school's IT helpdesk straight away");
  expect(visibleText(mail.html)).toContain('your account may be compromised');
});

test('a sign-in with the password and a code is fresh proof: the browser adds and removes devices without confirming again', async () => {
  const email = 'bursar-fresh@hill.example';
  const { secret } = await withPhone(email);
  const browser = new Agent(REDIRECT_URI);
  const login = await browser.follow(await browser.get(`${gatehouse.issuer}/account`));
  const codePage = await browser.follow(await submitLogin(browser, login, email, PASSWORD));
  expect(visibleText(codePage.html)).toContain('Enter your code');
  await browser.follow(await submitCode(browser, codePage, codeFor(secret, 1)));

  const add = await browser.get(`${KEYS()}/new`);
  expect(add.status).toBe(200);
  expect(add.html).toContain('class="qr"');
  const phoneId = (await gatehouse.services.authenticators.list(await accountIdOf(email)))[0]!.id;
  const removePage = await browser.get(`${gatehouse.issuer}/account/security-keys/${phoneId}/remove`);
  expect(removePage.status).toBe(200);
});

test('the proof is kept in PostgreSQL, bound to the session, and does not survive it', async () => {
  const email = 'deputy@hill.example';
  const { agent, secret } = await withPhone(email);
  const tablet = enrolmentOn(await agent.get(`${KEYS()}/new`));
  await saveDevice(agent, tablet, 'Tablet', codeFor(tablet.secret));
  await ageSessions(email);
  const confirm = await agent.get(confirmUrl('/account/security-keys/new'));
  expect((await submitConfirm(agent, confirm, { password: PASSWORD, code: codeFor(secret, 1) })).status).toBe(303);
  const [session] = await gatehouse.database.dataSource.query(
    `SELECT payload->>'uid' AS uid FROM oidc_payloads WHERE model = 'Session' AND payload->>'accountId' = $1`,
    [await accountIdOf(email)],
  );
  const proofs: Array<{ session_uid: string; factor: string }> = await gatehouse.database.dataSource.query(
    `SELECT session_uid, factor FROM session_proofs WHERE account_id = $1 ORDER BY factor`,
    [await accountIdOf(email)],
  );
  expect(proofs).toEqual([
    { session_uid: session.uid, factor: 'code' },
    { session_uid: session.uid, factor: 'password' },
  ]);

  // The browser closes (its session cookie goes); the next session, once older than the window,
  // has no proof of its own, and the fresh proof of the old session does not count for it.
  agent.cookies.clear();
  const login = await agent.follow(await agent.get(`${gatehouse.issuer}/account`));
  const codePage = await agent.follow(await submitLogin(agent, login, email, PASSWORD));
  const keys = await agent.follow(await submitCode(agent, codePage, codeFor(tablet.secret, 1)));
  expect(visibleText(keys.html)).toContain('Security keys');
  await gatehouse.database.dataSource.query(
    `UPDATE oidc_payloads SET payload = jsonb_set(payload, '{loginTs}', to_jsonb((payload->>'loginTs')::bigint - 600))
      WHERE model = 'Session' AND payload->>'uid' <> $1`,
    [session.uid],
  );
  await gatehouse.database.dataSource.query(
    `UPDATE session_proofs SET proven_at = proven_at - interval '10 minutes' WHERE session_uid <> $1`,
    [session.uid],
  );
  expect((await agent.get(`${KEYS()}/new`)).location).toBe(confirmUrl('/account/security-keys/new'));
});

test('a code given at sign-in on an old session is not a fresh password', async () => {
  const email = 'late-code@hill.example';
  await addStaff(gatehouse.services, email, [{ schoolId, accessLevel: 'basic' }]);
  // Signed in with the password (no device yet) at the school system...
  const rp = await relyingParty(gatehouse.issuer, credentials);
  const browser = new Agent(REDIRECT_URI);
  await browser.follow(await submitLogin(browser, await start(browser, await authorizationRequest(rp)), email, PASSWORD));
  // ...then a device is added from another browser, and time passes.
  const other = new Agent(REDIRECT_URI);
  const login = await other.follow(await other.get(`${gatehouse.issuer}/account`));
  await other.follow(await submitLogin(other, login, email, PASSWORD));
  const enrolment = enrolmentOn(await other.get(`${KEYS()}/new`));
  await saveDevice(other, enrolment, 'Phone', codeFor(enrolment.secret));
  await ageSessions(email);

  // The first browser is now asked for a code, and passes it: that is not the password again.
  const codePage = await start(browser, await authorizationRequest(rp));
  expect(visibleText(codePage.html)).toContain('Enter your code');
  const callback = await browser.follow(await submitCode(browser, codePage, codeFor(enrolment.secret, 1)));
  expect(callback.location).toMatch(/callback\?code=/);
  expect((await browser.get(`${KEYS()}/new`)).location).toBe(confirmUrl('/account/security-keys/new'));
});

test('a wrong code does not grant proof and is throttled like every other code', async () => {
  const email = 'bursar@hill.example';
  const { agent, secret } = await withPhone(email);
  await ageSessions(email);
  const accountId = await accountIdOf(email);
  const confirm = await agent.get(confirmUrl('/account/security-keys/new'));

  const wrong = await submitConfirm(agent, confirm, { password: PASSWORD, code: codeFor(secret, 5) });
  expect(wrong.status).toBe(401);
  const [event] = await gatehouse.database.dataSource.query(
    `SELECT event, outcome FROM audit_events WHERE account_id = $1 AND event = 'sign_in.code' ORDER BY id DESC LIMIT 1`,
    [accountId],
  );
  expect(event).toEqual({ event: 'sign_in.code', outcome: 'failure' });

  // Codes guessed up to the lock (anywhere: the count is the account's), then even the right one is refused.
  const windows: Array<{ key: string }> = await gatehouse.database.dataSource.query(`SELECT key FROM auth_throttle WHERE key LIKE $1`, [
    `code:${accountSubject(accountId)}:%`,
  ]);
  expect(windows.length).toBeGreaterThan(0);
  for (const { key } of windows) {
    for (let failure = 1; failure < THROTTLE.lockAfter; failure += 1) {
      await gatehouse.services.repositories.throttle.countWindow(key, THROTTLE.windowSeconds, THROTTLE.lockAfter, THROTTLE.lockSeconds);
    }
  }
  const locked = await submitConfirm(agent, confirm, { password: PASSWORD, code: codeFor(secret, 1) });
  expect(locked.status).toBe(429);
  expect(visibleText(locked.html)).toContain('Too many wrong attempts');
  expect((await agent.get(`${KEYS()}/new`)).location).toBe(confirmUrl('/account/security-keys/new'));
});

describe('enrolment inside a sign-in (an account with no device)', () => {
  test('the password just given counts; a step-up on an older session asks for the password first', async () => {
    const email = 'stepup@hill.example';
    await addStaff(gatehouse.services, email, [{ schoolId, accessLevel: 'higher' }]);
    const rp = await relyingParty(gatehouse.issuer, credentials);
    const agent = new Agent(REDIRECT_URI);
    const offer = await agent.follow(await submitLogin(agent, await start(agent, await authorizationRequest(rp)), email, PASSWORD));
    // Straight after the password: the offer leads to the QR code.
    const setUp = /href="([^"]+\/enrol)"/.exec(offer.html)![1]!;
    expect((await agent.get(new URL(setUp, offer.url).toString())).html).toContain('class="qr"');
    await continueWithBasic(agent, offer);

    await ageSessions(email);
    const authorization = await authorizationRequest(rp, { acr_values: 'urn:gatehouse:acr:higher' });
    const confirm = await start(agent, authorization);
    expect(confirm.url).toMatch(/\/interaction\/[^/]+\/enrol$/);
    expect(visibleText(confirm.html)).toContain('Confirm it’s you');
    expect(confirm.html).toContain('<label for="password">Password</label>');
    expect(confirm.html).not.toContain('name="code"');
    expect(confirm.html).not.toContain('class="qr"');
    const action = new URL(/<form method="post" action="([^"]+\/confirm)"/.exec(confirm.html)![1]!, confirm.url).toString();
    const wrong = await agent.post(action, { _csrf: formField(confirm.html, '_csrf'), password: 'not the password at all' });
    expect(wrong.status).toBe(401);
    expect(visibleText(wrong.html)).toContain('That password is not right.');
    const right = await agent.post(action, { _csrf: formField(confirm.html, '_csrf'), password: PASSWORD });
    expect(right.status).toBe(303);
    const enrolment = enrolmentOn(await agent.get(right.location!));
    const callback = await agent.follow(await saveDevice(agent, enrolment, 'Phone', codeFor(enrolment.secret)));
    expect((await exchange(rp, callback, authorization)).claims()).toMatchObject({
      acr: 'urn:gatehouse:acr:higher',
      access_level: 'higher',
    });
  });
});

test('"confirm it\'s you" only ever sends the browser back to an Account settings page', async () => {
  const email = 'newcomer@hill.example';
  await addStaff(gatehouse.services, email, [{ schoolId, accessLevel: 'basic' }]);
  const agent = new Agent(REDIRECT_URI);
  const login = await agent.follow(await agent.get(`${gatehouse.issuer}/account`));
  await agent.follow(await submitLogin(agent, login, email, PASSWORD));
  const confirm = await agent.get(confirmUrl('//evil.example/account/x'));
  expect(confirm.html).not.toContain('name="code"'); // no device yet: the password is all it takes
  expect(formField(confirm.html, 'next')).toBe('/account/security-keys');
  for (const next of ['https://evil.example/', '//evil.example/account/x', '/account/../password/forgot', '/accountx']) {
    const answer = await agent.post(`${gatehouse.issuer}/account/confirm`, {
      _csrf: formField(confirm.html, '_csrf'),
      next,
      password: PASSWORD,
      code: '',
    });
    expect(answer.status).toBe(303);
    expect(answer.location).toBe(KEYS());
  }
});
