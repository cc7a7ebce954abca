import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import * as client from 'openid-client';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { formField, qrImage, visibleText, type Page } from './support/agent.ts';
import { startSmtpServer } from './support/smtp.ts';
import { codeFor, decodeQrDataUrl, parseOtpauth, totp } from './support/totp.ts';
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

/** Signs in to /account through the provider and returns the Security keys page. */
async function openAccount(agent: Agent, email: string, code?: string): Promise<Page> {
  const login = await agent.follow(await agent.get(`${gatehouse.issuer}/account`));
  let next = await agent.follow(await submitLogin(agent, login, email, PASSWORD));
  if (code !== undefined) next = await agent.follow(await submitCode(agent, next, code));
  return next;
}

type Enrolment = { page: Page; secret: string };

async function openEnrolment(agent: Agent, url: string): Promise<Enrolment> {
  const page = await agent.get(url);
  const { secret } = parseOtpauth(decodeQrDataUrl(qrImage(page.html)));
  return { page, secret };
}

async function saveDevice(agent: Agent, enrolment: Enrolment, name: string, code: string): Promise<Page> {
  const action = new URL(/<form method="post" action="([^"]+)"/.exec(enrolment.page.html)![1]!, enrolment.page.url).toString();
  return agent.post(action, {
    _csrf: formField(enrolment.page.html, '_csrf'),
    enrolment: formField(enrolment.page.html, 'enrolment'),
    name,
    code,
  });
}

async function signInAtClient(email: string, params: Record<string, string> = {}) {
  const rp = await relyingParty(gatehouse.issuer, credentials);
  const agent = new Agent(REDIRECT_URI);
  const authorization = await authorizationRequest(rp, params);
  const login = await start(agent, authorization);
  const afterPassword = await agent.follow(await submitLogin(agent, login, email, PASSWORD));
  return { rp, agent, authorization, afterPassword };
}

test('the independent TOTP implementation matches RFC 6238 test vectors', () => {
  const key = Buffer.from('12345678901234567890');
  expect(totp(key, 59_000, { digits: 8 })).toBe('94287082');
  expect(totp(key, 1_111_111_109_000, { digits: 8 })).toBe('07081804');
  expect(totp(key, 20_000_000_000_000, { digits: 8 })).toBe('65353130');
});

test('enrolment from Account settings: QR code interop, wrong code keeps the key, then the code at every login', async () => {
  await addStaff(gatehouse.services, 'head@hill.example', [{ schoolId, accessLevel: 'higher' }]);
  const agent = new Agent(REDIRECT_URI);
  const keys = await openAccount(agent, 'head@hill.example');
  expect(keys.url).toBe(`${gatehouse.issuer}/account/security-keys`);
  expect(visibleText(keys.html)).toContain('Account settings');
  expect(visibleText(keys.html)).toContain('You have no authenticator devices yet.');

  const enrolment = await openEnrolment(agent, `${gatehouse.issuer}/account/security-keys/new`);
  const otpauth = parseOtpauth(decodeQrDataUrl(qrImage(enrolment.page.html)));
  expect(otpauth).toMatchObject({ issuer: 'Gatehouse', algorithm: 'SHA1', digits: '6', period: '30' });
  expect(otpauth.label).toBe('Gatehouse:head@hill.example');
  expect(visibleText(enrolment.page.html).replace(/\s/g, '')).toContain(enrolment.secret);
  for (const label of ['Name', 'Code', 'Save this device']) expect(visibleText(enrolment.page.html)).toContain(label);

  const wrong = await saveDevice(agent, enrolment, 'My phone', codeFor(enrolment.secret, 5));
  expect(wrong.status).toBe(400);
  expect(visibleText(wrong.html)).toContain('That code is not right.');
  const retry = { page: wrong, secret: parseOtpauth(decodeQrDataUrl(qrImage(wrong.html))).secret };
  expect(retry.secret).toBe(enrolment.secret);

  const enrolmentCode = codeFor(enrolment.secret);
  const saved = await agent.follow(await saveDevice(agent, retry, 'My phone', enrolmentCode));
  expect(visibleText(saved.html)).toContain('Your new device is saved.');
  expect(visibleText(saved.html)).toContain('My phone');
  await smtp.waitFor('head@hill.example', /authenticator was added/);

  const [row] = await gatehouse.database.dataSource.query(`SELECT secret_sealed FROM authenticator_devices`);
  expect(row.secret_sealed).not.toContain(enrolment.secret);

  // A new sign-in at the school system now asks for the code before the client gets anything.
  const { rp, agent: browser, authorization, afterPassword } = await signInAtClient('head@hill.example');
  expect(visibleText(afterPassword.html)).toContain('Enter your code');
  expect(afterPassword.html).toContain('<label for="code">Code</label>');
  const refused = await submitCode(browser, afterPassword, '000000');
  expect(refused.status).toBe(401);
  expect(visibleText(refused.html)).toContain('That code is not right');
  const enrolmentStepReplayed = await submitCode(browser, afterPassword, enrolmentCode);
  expect(enrolmentStepReplayed.status).toBe(401);

  const nextCode = codeFor(enrolment.secret, 1);
  const callback = await browser.follow(await submitCode(browser, afterPassword, nextCode));
  const tokens = await exchange(rp, callback, authorization);
  const claims = tokens.claims()!;
  expect(claims).toMatchObject({ access_level: 'higher', acr: 'urn:gatehouse:acr:higher', amr: ['pwd', 'otp', 'mfa'] });
  const userinfo = await client.fetchUserInfo(rp, tokens.access_token, claims.sub);
  expect(userinfo.access_level).toBe('higher');

  // The same code again, in another browser: refused as a replay.
  const other = await signInAtClient('head@hill.example');
  const replay = await submitCode(other.agent, other.afterPassword, nextCode);
  expect(replay.status).toBe(401);
  expect(visibleText(replay.html)).toContain('used already');

  // prompt=none on a session that passed only the password answers login_required.
  const silent = await start(other.agent, await authorizationRequest(rp, { prompt: 'none' }));
  expect(new URL(silent.location!).searchParams.get('error')).toBe('login_required');
});

test('a device whose secret speakeasy made (before secrets came from crypto.randomBytes) still signs in', async () => {
  const oldSecret = 'PE2XQOK6OZIFISKUKUQTAUBVIZIWGJCT'; // speakeasy.generateSecret({ length: 20 }).base32
  const account = await addStaff(gatehouse.services, 'veteran@hill.example', [{ schoolId, accessLevel: 'higher' }]);
  const deviceId = crypto.randomUUID();
  await gatehouse.services.repositories.authenticators.insert({
    id: deviceId,
    accountId: account.id,
    name: 'Old phone',
    secretSealed: gatehouse.services.box.seal(oldSecret, `totp:${deviceId}`),
    step: 0,
  });
  const { rp, agent, authorization, afterPassword } = await signInAtClient('veteran@hill.example');
  expect(visibleText(afterPassword.html)).toContain('Enter your code');
  const callback = await agent.follow(await submitCode(agent, afterPassword, codeFor(oldSecret)));
  expect((await exchange(rp, callback, authorization)).claims()).toMatchObject({ access_level: 'higher', acr: 'urn:gatehouse:acr:higher' });
});

test('a higher member without a device is offered enrolment inside the sign-in and leaves with higher access', async () => {
  await addStaff(gatehouse.services, 'deputy@hill.example', [{ schoolId, accessLevel: 'higher' }]);
  const { rp, agent, authorization, afterPassword } = await signInAtClient('deputy@hill.example');
  expect(visibleText(afterPassword.html)).toContain('You have basic access only until you set up your authenticator');
  const setUpLink = /href="([^"]+\/enrol)"/.exec(afterPassword.html)![1]!;
  const enrolment = await openEnrolment(agent, new URL(setUpLink, afterPassword.url).toString());
  const callback = await agent.follow(await saveDevice(agent, enrolment, 'iPad', codeFor(enrolment.secret)));
  const claims = (await exchange(rp, callback, authorization)).claims()!;
  expect(claims).toMatchObject({ access_level: 'higher', acr: 'urn:gatehouse:acr:higher', amr: ['pwd', 'otp', 'mfa'] });
});

test('a basic member with a device passes the code: acr higher, access level still basic', async () => {
  const account = await addStaff(gatehouse.services, 'ta@hill.example', [{ schoolId, accessLevel: 'basic' }]);
  const agent = new Agent(REDIRECT_URI);
  await openAccount(agent, 'ta@hill.example');
  const enrolment = await openEnrolment(agent, `${gatehouse.issuer}/account/security-keys/new`);
  await saveDevice(agent, enrolment, 'Phone', codeFor(enrolment.secret));
  expect(await gatehouse.services.authenticators.hasSecondFactor(account.id)).toBe(true);

  const { rp, agent: browser, authorization, afterPassword } = await signInAtClient('ta@hill.example');
  const callback = await browser.follow(await submitCode(browser, afterPassword, codeFor(enrolment.secret, 1)));
  const claims = (await exchange(rp, callback, authorization)).claims()!;
  expect(claims).toMatchObject({ access_level: 'basic', acr: 'urn:gatehouse:acr:higher' });
});

test('removing a device right after signing in and adding one; mfa-reset removes them all', async () => {
  await addStaff(gatehouse.services, 'bursar@hill.example', [{ schoolId, accessLevel: 'higher' }]);
  const agent = new Agent(REDIRECT_URI);
  await openAccount(agent, 'bursar@hill.example');
  const first = await openEnrolment(agent, `${gatehouse.issuer}/account/security-keys/new`);
  await saveDevice(agent, first, 'Phone', codeFor(first.secret));
  const second = await openEnrolment(agent, `${gatehouse.issuer}/account/security-keys/new`);
  const list = await agent.follow(await saveDevice(agent, second, 'Tablet', codeFor(second.secret)));
  const removeLink = /href="(\/account\/security-keys\/[0-9a-f-]+\/remove)"/.exec(list.html)![1]!;

  // The password a minute ago and the Tablet's code just now are fresh proof: one click removes.
  const confirm = await agent.get(`${gatehouse.issuer}${removeLink}`);
  expect(visibleText(confirm.html)).toContain('Remove “Phone”');
  const removed = await agent.follow(await agent.post(`${gatehouse.issuer}${removeLink}`, { _csrf: formField(confirm.html, '_csrf') }));
  expect(visibleText(removed.html)).toContain('The device has been removed.');
  expect(visibleText(removed.html)).not.toContain('Phone');
  await smtp.waitFor('bursar@hill.example', /authenticator was removed/);

  // Helpdesk reset through the CLI, against the same database.
  const root = path.resolve(import.meta.dirname, '..');
  const env = { ...process.env, DATA_DIR: storage.dataDir, DATABASE_URL: storage.databaseUrl ?? '' };
  if (storage.databaseUrl) {
    const { stdout } = await promisify(execFile)(
      path.join(root, 'node_modules/.bin/node'),
      ['src/admin/cli.ts', 'user', 'mfa-reset', '--email', 'BURSAR@hill.example', '--json'],
      { cwd: root, env },
    );
    expect(JSON.parse(stdout)).toMatchObject({ removed: 1 });
  } else {
    // The embedded database belongs to this process's server; the CLI would connect through its socket.
    const account = (await gatehouse.services.accounts.findByEmail('bursar@hill.example'))!;
    expect(await gatehouse.services.authenticators.resetAll(account)).toBe(1);
  }

  // The session that passed a code from the lost device is over: SSO asks for the password again.
  const afterReset = await agent.follow(await agent.get(`${gatehouse.issuer}/account`));
  expect(afterReset.html).toContain('name="password"');

  const { rp, agent: browser, authorization, afterPassword } = await signInAtClient('bursar@hill.example');
  expect(visibleText(afterPassword.html)).toContain('You have basic access only');
  const callback = await continueWithBasic(browser, afterPassword);
  const claims = (await exchange(rp, callback, authorization)).claims()!;
  expect(claims).toMatchObject({ access_level: 'basic', acr: 'urn:gatehouse:acr:basic', amr: ['pwd'] });
});

test('a password reset neither removes nor skips the code', async () => {
  await addStaff(gatehouse.services, 'reset@hill.example', [{ schoolId, accessLevel: 'higher' }]);
  const agent = new Agent(REDIRECT_URI);
  await openAccount(agent, 'reset@hill.example');
  const enrolment = await openEnrolment(agent, `${gatehouse.issuer}/account/security-keys/new`);
  await saveDevice(agent, enrolment, 'Phone', codeFor(enrolment.secret));
  const account = (await gatehouse.services.accounts.findByEmail('reset@hill.example'))!;
  await gatehouse.services.passwordReset.request('reset@hill.example', null, { ip: '192.0.2.1' });
  const mail = await smtp.waitFor('reset@hill.example', /Set your Gatehouse password/);
  const token = /token=([A-Za-z0-9_-]+)/.exec(mail.text)![1]!;
  expect(
    await gatehouse.services.passwordReset.complete(token, `${PASSWORD} again`, `${PASSWORD} again`, { ip: '192.0.2.1' }),
  ).toMatchObject({ done: true });
  expect(await gatehouse.services.authenticators.hasSecondFactor(account.id)).toBe(true);

  const rp = await relyingParty(gatehouse.issuer, credentials);
  const browser = new Agent(REDIRECT_URI);
  const login = await start(browser, await authorizationRequest(rp));
  const afterPassword = await browser.follow(await submitLogin(browser, login, 'reset@hill.example', `${PASSWORD} again`));
  expect(visibleText(afterPassword.html)).toContain('Enter your code');
});

describe('step-up (rule 6)', () => {
  async function enrolledStaff(email: string, level: 'basic' | 'higher') {
    await addStaff(gatehouse.services, email, [{ schoolId, accessLevel: level }]);
    const agent = new Agent(REDIRECT_URI);
    await openAccount(agent, email);
    const enrolment = await openEnrolment(agent, `${gatehouse.issuer}/account/security-keys/new`);
    await saveDevice(agent, enrolment, 'Phone', codeFor(enrolment.secret));
    return enrolment.secret;
  }

  test('acr_values=higher on a session without a code asks for the code; prompt=none gets an error', async () => {
    await addStaff(gatehouse.services, 'sso@hill.example', [{ schoolId, accessLevel: 'higher' }]);
    const { rp, agent, afterPassword } = await signInAtClient('sso@hill.example');
    await continueWithBasic(agent, afterPassword);

    const silent = await start(agent, await authorizationRequest(rp, { acr_values: 'urn:gatehouse:acr:higher', prompt: 'none' }));
    expect(new URL(silent.location!).searchParams.get('error')).toBe('interaction_required');

    // No device yet: stepping up goes through enrolment.
    const authorization = await authorizationRequest(rp, { acr_values: 'urn:gatehouse:acr:higher' });
    const enrolPage = await start(agent, authorization);
    expect(enrolPage.url).toMatch(/\/interaction\/[^/]+\/enrol$/);
    const enrolment = { page: enrolPage, secret: parseOtpauth(decodeQrDataUrl(qrImage(enrolPage.html))).secret };
    const callback = await agent.follow(await saveDevice(agent, enrolment, 'Phone', codeFor(enrolment.secret)));
    expect((await exchange(rp, callback, authorization)).claims()).toMatchObject({
      acr: 'urn:gatehouse:acr:higher',
      access_level: 'higher',
    });
  });

  test('a step-up without a device can be declined: the client gets access_denied', async () => {
    await addStaff(gatehouse.services, 'decline@hill.example', [{ schoolId, accessLevel: 'higher' }]);
    const { rp, agent, afterPassword } = await signInAtClient('decline@hill.example');
    await continueWithBasic(agent, afterPassword);
    const enrolPage = await start(agent, await authorizationRequest(rp, { acr_values: 'urn:gatehouse:acr:higher' }));
    const decline = /<form method="post" action="([^"]+\/decline)"/.exec(enrolPage.html)![1]!;
    const back = await agent.follow(
      await agent.post(new URL(decline, enrolPage.url).toString(), { _csrf: formField(enrolPage.html, '_csrf') }),
    );
    expect(new URL(back.location!).searchParams.get('error')).toBe('access_denied');
  });

  test('an essential acr claim asks for the code once, without looping back to the password', async () => {
    const secret = await enrolledStaff('essential@hill.example', 'higher');
    const rp = await relyingParty(gatehouse.issuer, credentials);
    const agent = new Agent(REDIRECT_URI);
    const claims = JSON.stringify({ id_token: { acr: { essential: true, value: 'urn:gatehouse:acr:higher' } } });
    const authorization = await authorizationRequest(rp, { claims });
    const login = await start(agent, authorization);
    const codePage = await agent.follow(await submitLogin(agent, login, 'essential@hill.example', PASSWORD));
    expect(visibleText(codePage.html)).toContain('Enter your code');
    const callback = await agent.follow(await submitCode(agent, codePage, codeFor(secret, 1)));
    expect((await exchange(rp, callback, authorization)).claims()).toMatchObject({ acr: 'urn:gatehouse:acr:higher' });
  });

  test('an essential acr claim naming higher, for an account without a device, goes through enrolment', async () => {
    await addStaff(gatehouse.services, 'essential-new@hill.example', [{ schoolId, accessLevel: 'higher' }]);
    const { rp, agent, afterPassword } = await signInAtClient('essential-new@hill.example');
    await continueWithBasic(agent, afterPassword);
    const essential = (acr: Record<string, unknown>) => JSON.stringify({ id_token: { acr } });

    // Asked for in passing (not essential), or with basic allowed, higher is not required.
    for (const acr of [
      { value: 'urn:gatehouse:acr:higher' },
      { essential: true, values: ['urn:gatehouse:acr:higher', 'urn:gatehouse:acr:basic'] },
    ]) {
      const silent = await start(agent, await authorizationRequest(rp, { claims: essential(acr), prompt: 'none' }));
      expect(new URL(silent.location!).searchParams.get('code')).toEqual(expect.any(String));
    }
    for (const acr of [
      { essential: true, value: 'urn:gatehouse:acr:higher' },
      { essential: true, values: ['urn:gatehouse:acr:higher'] },
    ]) {
      const silent = await start(agent, await authorizationRequest(rp, { claims: essential(acr), prompt: 'none' }));
      expect(new URL(silent.location!).searchParams.get('error')).toBe('interaction_required');
    }

    const authorization = await authorizationRequest(rp, { claims: essential({ essential: true, value: 'urn:gatehouse:acr:higher' }) });
    const enrolPage = await start(agent, authorization);
    expect(enrolPage.url).toMatch(/\/interaction\/[^/]+\/enrol$/);
    const enrolment = { page: enrolPage, secret: parseOtpauth(decodeQrDataUrl(qrImage(enrolPage.html))).secret };
    const callback = await agent.follow(await saveDevice(agent, enrolment, 'Phone', codeFor(enrolment.secret)));
    expect((await exchange(rp, callback, authorization)).claims()).toMatchObject({
      acr: 'urn:gatehouse:acr:higher',
      access_level: 'higher',
    });
  });

  test('a password alone cannot add a device to an account that has one', async () => {
    await enrolledStaff('thief-target@hill.example', 'higher');
    const { agent, afterPassword } = await signInAtClient('thief-target@hill.example');
    const uid = /\/interaction\/([^/?]+)/.exec(afterPassword.url)![1]!;
    const attempt = await agent.get(`${gatehouse.issuer}/interaction/${uid}/enrol`);
    expect(attempt.status).toBe(400);
    expect(attempt.html).not.toContain('class="qr"');
  });
});
