import type * as client from 'openid-client';
import { operatorAuthority } from '../src/admin/authority.ts';
import { commands } from '../src/admin/commands.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { formField, qrImage, visibleText } from './support/agent.ts';
import { linkIn, startSmtpServer } from './support/smtp.ts';
import { codeFor, decodeQrDataUrl, parseOtpauth } from './support/totp.ts';
import {
  addClient,
  addSchool,
  addStaff,
  Agent,
  authorizationRequest,
  PASSWORD,
  REDIRECT_URI,
  relyingParty,
  start,
  submitLogin,
} from './support/scenario.ts';

/**
 * A thief holding a copy of someone's session cookies keeps using them (many requests at once)
 * while the owner resets the password, or the helpdesk runs `user mfa-reset` or `user lock`.
 * Requests in flight at that moment save the session they loaded and bring its row back; the
 * account's "sessions not before" time must still refuse it afterwards.
 */

let storage: TestStorage;
let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
let gatehouse: TestGatehouse;
let schoolId: string;
let rp: client.Configuration;
const NEW_PASSWORD = 'a quiet library at half past four';
const PARALLEL = 6;

beforeAll(async () => {
  storage = await createTestStorage();
  smtp = await startSmtpServer();
  gatehouse = await startTestGatehouse(storage, { SMTP_URL: smtp.url, MAIL_FROM: 'Gatehouse <sso@gatehouse.test>' });
  schoolId = (await addSchool(gatehouse.services, 'Hill Primary School')).id;
  rp = await relyingParty(gatehouse.issuer, await addClient(gatehouse.services, 'Hill MIS', [schoolId]));
});

afterAll(async () => {
  await gatehouse?.close();
  await smtp?.close();
  await storage?.drop();
});

const KEYS = () => `${gatehouse.issuer}/account/security-keys`;

/** Signs in at the school system (and so at /account: one provider session). */
async function signInAtClient(agent: Agent, email: string, password: string) {
  const login = await start(agent, await authorizationRequest(rp));
  const callback = await agent.follow(await submitLogin(agent, login, email, password));
  expect(callback.location).toContain('code=');
}

/** A silent authorization (`prompt=none`): the code or error the school system would get. */
async function silently(agent: Agent, params: Record<string, string> = {}) {
  const answer = await agent.get((await authorizationRequest(rp, { prompt: 'none', ...params })).url);
  return new URL(answer.location ?? 'about:blank').searchParams;
}

/** The thief: a browser holding copies of the owner's cookies. */
const thiefOf = (owner: Agent) => {
  const thief = new Agent(REDIRECT_URI);
  for (const [name, value] of owner.cookies) thief.cookies.set(name, value);
  return thief;
};

/**
 * Every save of a session takes 150 ms longer, before PostgreSQL looks for the row: as on a
 * loaded server, requests that loaded the session before it was ended save it after.
 */
async function slowSessionSaves(on: boolean) {
  const db = gatehouse.database.dataSource;
  if (!on) {
    await db.query(`DROP TRIGGER IF EXISTS slow_session_save ON oidc_payloads`);
    return;
  }
  await db.query(`CREATE OR REPLACE FUNCTION slow_session_save() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN IF NEW.model = 'Session' THEN PERFORM pg_sleep(0.15); END IF; RETURN NEW; END $$`);
  await db.query(`CREATE TRIGGER slow_session_save BEFORE INSERT ON oidc_payloads FOR EACH ROW EXECUTE FUNCTION slow_session_save()`);
}

/**
 * Runs `PARALLEL` loops of requests with the thief's cookies while `revoke` runs, and for a
 * moment after, with session saves slowed so that some are in flight when the sessions end.
 */
async function whileHammering(thief: Agent, urls: string[], revoke: () => Promise<void>) {
  await slowSessionSaves(true);
  let stop = false;
  let sent = 0;
  const loop = async (offset: number) => {
    const agent = thiefOf(thief);
    for (let i = offset; !stop; i += 1) {
      await agent.get(urls[i % urls.length]!);
      sent += 1;
    }
  };
  const loops = Array.from({ length: PARALLEL }, (_, i) => loop(i));
  await new Promise((resolve) => setTimeout(resolve, 200));
  await revoke();
  await new Promise((resolve) => setTimeout(resolve, 400));
  stop = true;
  await Promise.all(loops);
  await slowSessionSaves(false);
  expect(sent).toBeGreaterThan(PARALLEL);
}

/** What the thief can still do: the /account page, and a silent sign-in at the school system. */
async function expectRefused(thief: Agent, acr: Record<string, string> = {}) {
  const keys = await thief.get(KEYS());
  expect(keys.status).toBe(302);
  expect(new URL(keys.location!).pathname).toBe('/auth');
  const silent = await silently(thief, acr);
  expect(silent.get('code')).toBeNull();
  expect(silent.get('error')).toBe('login_required');
}

async function resetPassword(agent: Agent, email: string, password: string) {
  const forgot = await agent.get(`${gatehouse.issuer}/password/forgot`);
  await agent.post(`${gatehouse.issuer}/password/forgot`, { _csrf: formField(forgot.html, '_csrf'), email });
  const link = linkIn(await smtp.waitFor(email, /Set your Gatehouse password/));
  const form = await agent.get(link);
  const done = await agent.post(`${gatehouse.issuer}/password/reset`, {
    _csrf: formField(form.html, '_csrf'),
    token: formField(form.html, 'token'),
    password,
    confirm: password,
  });
  expect(visibleText(done.html)).toContain('Your password has been set');
}

test('a password reset ends a stolen session for good, even with requests in flight; the owner signs straight back in', async () => {
  const email = 'reset@hill.example';
  await addStaff(gatehouse.services, email, [{ schoolId, accessLevel: 'basic' }]);
  const owner = new Agent(REDIRECT_URI);
  await signInAtClient(owner, email, PASSWORD);
  const thief = thiefOf(owner);
  expect((await thief.get(KEYS())).status).toBe(200);
  expect(silentUrlCode(await silently(thief))).toBe(true);

  const silentUrl = (await authorizationRequest(rp, { prompt: 'none' })).url;
  await whileHammering(thief, [KEYS(), silentUrl], () => resetPassword(new Agent(REDIRECT_URI), email, NEW_PASSWORD));

  await expectRefused(thief);
  // A sign-in in the same second as the reset still holds.
  const again = new Agent(REDIRECT_URI);
  await signInAtClient(again, email, NEW_PASSWORD);
  expect((await again.get(KEYS())).status).toBe(200);
  expect(silentUrlCode(await silently(again))).toBe(true);
});

const silentUrlCode = (params: URLSearchParams) => params.get('code') !== null;

test('`user mfa-reset` ends a stolen session that had passed a code: no higher access after, even with requests in flight', async () => {
  const email = 'mfa@hill.example';
  await addStaff(gatehouse.services, email, [{ schoolId, accessLevel: 'higher' }]);
  const owner = new Agent(REDIRECT_URI);
  const login = await owner.follow(await owner.get(`${gatehouse.issuer}/account`));
  await owner.follow(await submitLogin(owner, login, email, PASSWORD));
  const enrolment = await owner.get(`${KEYS()}/new`);
  const secret = parseOtpauth(decodeQrDataUrl(qrImage(enrolment.html))).secret;
  const action = new URL(/<form method="post" action="([^"]+)"/.exec(enrolment.html)![1]!, enrolment.url).toString();
  await owner.post(action, {
    _csrf: formField(enrolment.html, '_csrf'),
    enrolment: formField(enrolment.html, 'enrolment'),
    name: 'Phone',
    code: codeFor(secret),
  });
  // Consent once, interactively; the session has passed a code, so higher access is silent.
  const first = await owner.follow(await owner.get((await authorizationRequest(rp)).url));
  expect(first.location).toContain('code=');
  const thief = thiefOf(owner);
  const higher = { acr_values: 'urn:gatehouse:acr:higher' };
  expect(silentUrlCode(await silently(thief, higher))).toBe(true);

  const higherUrl = (await authorizationRequest(rp, { prompt: 'none', ...higher })).url;
  await whileHammering(thief, [KEYS(), higherUrl], async () => {
    await commands['user mfa-reset']!(gatehouse.services, { email }, operatorAuthority('test'));
  });

  await expectRefused(thief, higher);
});

test('`user lock` then `user unlock` leaves a stolen session ended, even with requests in flight', async () => {
  const email = 'lock@hill.example';
  await addStaff(gatehouse.services, email, [{ schoolId, accessLevel: 'basic' }]);
  const owner = new Agent(REDIRECT_URI);
  await signInAtClient(owner, email, PASSWORD);
  const thief = thiefOf(owner);
  expect((await thief.get(KEYS())).status).toBe(200);

  const silentUrl = (await authorizationRequest(rp, { prompt: 'none' })).url;
  await whileHammering(thief, [KEYS(), silentUrl], async () => {
    await commands['user lock']!(gatehouse.services, { email }, operatorAuthority('test'));
  });
  await commands['user unlock']!(gatehouse.services, { email }, operatorAuthority('test'));

  await expectRefused(thief);
  const again = new Agent(REDIRECT_URI);
  await signInAtClient(again, email, PASSWORD);
  expect((await again.get(KEYS())).status).toBe(200);
});
