import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { formAction, formField, visibleText, type Page } from './support/agent.ts';
import {
  addClient,
  addSchool,
  addStaff,
  Agent,
  authorizationRequest,
  exchange,
  PASSWORD,
  REDIRECT_URI,
  relyingParty,
  start,
} from './support/scenario.ts';
import { sessionSecondsLeft, sessionSecondsToSave } from '../src/domain/session-lifetime.ts';

const IDLE_SECONDS = 30 * 60;
const ABSOLUTE_SECONDS = 12 * 3600;

let storage: TestStorage;
let gatehouse: TestGatehouse;
let schoolId: string;
let credentials: { clientId: string; clientSecret: string };

beforeAll(async () => {
  storage = await createTestStorage();
  gatehouse = await startTestGatehouse(storage);
  schoolId = (await addSchool(gatehouse.services, 'Hill Primary School')).id;
  credentials = await addClient(gatehouse.services, 'Hill MIS', [schoolId]);
});

afterAll(async () => {
  await gatehouse?.close();
  await storage?.drop();
});

const now = () => Math.floor(Date.now() / 1000);

async function logIn(agent: Agent, loginPage: Page, email: string, remember: boolean): Promise<Page> {
  const form: Record<string, string> = { _csrf: formField(loginPage.html, '_csrf'), email, password: PASSWORD };
  if (remember) form.remember = 'yes';
  return agent.follow(await agent.post(new URL(formAction(loginPage.html), loginPage.url).toString(), form));
}

/** A sign-in at the school system (no device, basic member): back at the client with a code. */
async function signIn(email: string, remember = false) {
  const rp = await relyingParty(gatehouse.issuer, credentials);
  const agent = new Agent(REDIRECT_URI);
  const authorization = await authorizationRequest(rp);
  const callback = await logIn(agent, await start(agent, authorization), email, remember);
  expect(callback.location).toMatch(/^http:\/\/localhost:65010\/callback\?code=/);
  await exchange(rp, callback, authorization);
  return { rp, agent };
}

type StoredSession = { exp: number; loginTs: number; expiresAt: Date };

async function sessionOf(email: string): Promise<StoredSession> {
  const account = (await gatehouse.services.accounts.findByEmail(email))!;
  const rows: Array<{ payload: { exp: number; loginTs: number }; expires_at: Date }> = await gatehouse.database.dataSource.query(
    `SELECT payload, expires_at FROM oidc_payloads WHERE model = 'Session' AND payload->>'accountId' = $1`,
    [account.id],
  );
  expect(rows).toHaveLength(1);
  return { exp: rows[0]!.payload.exp, loginTs: rows[0]!.payload.loginTs, expiresAt: rows[0]!.expires_at };
}

/** Moves time for the stored session, as if it had been idle (exp) or signed in earlier (loginTs). */
async function editSession(email: string, change: { exp?: number; loginTs?: number }) {
  const account = (await gatehouse.services.accounts.findByEmail(email))!;
  let set = 'payload';
  const values: unknown[] = [account.id];
  for (const [key, value] of Object.entries(change)) {
    values.push(value);
    set = `jsonb_set(${set}, '{${key}}', to_jsonb($${values.length}::bigint))`;
  }
  const expiry = change.exp === undefined ? '' : `, expires_at = to_timestamp($${values.indexOf(change.exp) + 1})`;
  await gatehouse.database.dataSource.query(
    `UPDATE oidc_payloads SET payload = ${set}${expiry} WHERE model = 'Session' AND payload->>'accountId' = $1`,
    values,
  );
}

/** A new authorization from the same browser: single sign-on (back at the client) or the login page. */
async function ssoAgain(rp: Awaited<ReturnType<typeof relyingParty>>, agent: Agent): Promise<Page> {
  return start(agent, await authorizationRequest(rp));
}

const sessionCookies = (agent: Agent) => agent.setCookies.filter((header) => /^_session=/.test(header));

describe('the rule', () => {
  const limits = { idleSeconds: IDLE_SECONDS, absoluteSeconds: ABSOLUTE_SECONDS };

  test('the idle timeout from now, but never past the absolute lifetime from sign-in', () => {
    const t = 1_800_000_000;
    expect(sessionSecondsLeft(t, t, limits)).toBe(IDLE_SECONDS);
    expect(sessionSecondsLeft(t, t + 3600, limits)).toBe(IDLE_SECONDS);
    expect(sessionSecondsLeft(t, t + ABSOLUTE_SECONDS - 60, limits)).toBe(60);
    expect(sessionSecondsLeft(t, t + ABSOLUTE_SECONDS + 60, limits)).toBe(1);
    expect(sessionSecondsLeft(undefined, t, limits)).toBe(IDLE_SECONDS);
  });

  test('only a request that used the session moves the deadline; a new session gets the idle timeout', () => {
    const t = 1_800_000_000;
    const session = { loginTs: t - 600, exp: t + 60 };
    expect(sessionSecondsToSave(session, { route: 'authorization', status: 303 }, t, limits)).toBe(IDLE_SECONDS);
    expect(sessionSecondsToSave(session, { route: 'resume', status: 303 }, t, limits)).toBe(IDLE_SECONDS);
    expect(sessionSecondsToSave(session, { route: 'authorization', status: 404 }, t, limits)).toBe(60);
    expect(sessionSecondsToSave(session, { route: 'authorization', status: 400 }, t, limits)).toBe(60);
    expect(sessionSecondsToSave(session, { route: 'end_session', status: 200 }, t, limits)).toBe(60);
    expect(sessionSecondsToSave({ loginTs: t }, { route: 'resume', status: 404 }, t, limits)).toBe(IDLE_SECONDS);
    expect(sessionSecondsToSave({ loginTs: t - 600, exp: t - 5 }, { route: 'authorization', status: 400 }, t, limits)).toBe(1);
  });
});

describe('inactivity timeout (SESSION_IDLE_MINUTES, default 30)', () => {
  test('a new session lasts the idle timeout, not the absolute lifetime', async () => {
    await addStaff(gatehouse.services, 'new@hill.example', [{ schoolId, accessLevel: 'basic' }]);
    await signIn('new@hill.example');
    const session = await sessionOf('new@hill.example');
    expect(session.exp - now()).toBeGreaterThan(IDLE_SECONDS - 30);
    expect(session.exp - now()).toBeLessThanOrEqual(IDLE_SECONDS);
    expect(Math.abs(session.expiresAt.getTime() / 1000 - session.exp)).toBeLessThanOrEqual(2);
  });

  test('a session idle past the timeout asks for the password again', async () => {
    await addStaff(gatehouse.services, 'idle@hill.example', [{ schoolId, accessLevel: 'basic' }]);
    const { rp, agent } = await signIn('idle@hill.example');
    // 31 minutes without use: the stored session expired a minute ago.
    await editSession('idle@hill.example', { exp: now() - 60 });
    const again = await ssoAgain(rp, agent);
    expect(again.location).toBeNull();
    expect(again.html).toContain('name="password"');
    const account = await agent.follow(await agent.get(`${gatehouse.issuer}/account`));
    expect(account.html).toContain('name="password"');
  });

  test('a session used within the timeout survives, and each use moves the idle deadline', async () => {
    await addStaff(gatehouse.services, 'busy@hill.example', [{ schoolId, accessLevel: 'basic' }]);
    const { rp, agent } = await signIn('busy@hill.example');
    // 29 minutes without use: one minute left.
    await editSession('busy@hill.example', { exp: now() + 60 });
    const sso = await ssoAgain(rp, agent);
    expect(sso.location).toMatch(/^http:\/\/localhost:65010\/callback\?code=/);
    expect((await sessionOf('busy@hill.example')).exp - now()).toBeGreaterThan(IDLE_SECONDS - 30);

    // /account pages are use too.
    await editSession('busy@hill.example', { exp: now() + 60 });
    const keys = await agent.follow(await agent.get(`${gatehouse.issuer}/account`));
    expect(visibleText(keys.html)).toContain('Security keys');
    expect((await sessionOf('busy@hill.example')).exp - now()).toBeGreaterThan(IDLE_SECONDS - 30);
  });

  test('a failed authorization, or merely opening the sign-out form, does not move the idle deadline', async () => {
    const email = 'unused@hill.example';
    await addStaff(gatehouse.services, email, [{ schoolId, accessLevel: 'basic' }]);
    const { rp, agent } = await signIn(email);
    const deadline = now() + 120;
    await editSession(email, { exp: deadline });

    const unknownClient = await agent.get(
      `${gatehouse.issuer}/auth?${new URLSearchParams({ client_id: 'no-such-client', response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI })}`,
    );
    expect(unknownClient.status).toBe(400);
    // A silent request for higher access that this password-only session cannot serve.
    const silent = await agent.get((await authorizationRequest(rp, { prompt: 'none', acr_values: 'urn:gatehouse:acr:higher' })).url);
    expect(new URL(silent.location!).searchParams.get('error')).toBe('interaction_required');
    const signOutForm = await agent.get(`${gatehouse.issuer}/session/end`);
    expect(signOutForm.status).toBe(200);
    expect((await sessionOf(email)).exp).toBe(deadline);

    // Single sign-on that succeeds is use.
    expect((await ssoAgain(rp, agent)).location).toMatch(/callback\?code=/);
    expect((await sessionOf(email)).exp - now()).toBeGreaterThan(IDLE_SECONDS - 30);
  });

  test('use never extends the absolute lifetime (SESSION_TTL_HOURS from sign-in)', async () => {
    await addStaff(gatehouse.services, 'long@hill.example', [{ schoolId, accessLevel: 'basic' }]);
    const { rp, agent } = await signIn('long@hill.example');
    // Signed in 11 h 58 min ago, used a minute ago: two minutes of the absolute lifetime are left.
    const loginTs = now() - ABSOLUTE_SECONDS + 120;
    await editSession('long@hill.example', { loginTs, exp: now() + 60 });
    expect((await ssoAgain(rp, agent)).location).toMatch(/callback\?code=/);
    expect((await sessionOf('long@hill.example')).exp).toBeLessThanOrEqual(loginTs + ABSOLUTE_SECONDS);
    await agent.follow(await agent.get(`${gatehouse.issuer}/account`));
    expect((await sessionOf('long@hill.example')).exp).toBeLessThanOrEqual(loginTs + ABSOLUTE_SECONDS);

    // Once that is reached, the password is needed again however busy the session was.
    await editSession('long@hill.example', { loginTs: loginTs - 180, exp: now() - 60 });
    expect((await ssoAgain(rp, agent)).html).toContain('name="password"');
  });
});

describe('the session cookie', () => {
  test('is a browser-session cookie (no Expires, no Max-Age) unless the person ticked the box', async () => {
    await addStaff(gatehouse.services, 'shared-pc@hill.example', [{ schoolId, accessLevel: 'basic' }]);
    const rp = await relyingParty(gatehouse.issuer, credentials);
    const agent = new Agent(REDIRECT_URI);
    const loginPage = await start(agent, await authorizationRequest(rp));
    expect(loginPage.html).toMatch(/<input id="remember" name="remember" type="checkbox" value="yes">/);
    expect(loginPage.html).toContain('<label for="remember">Keep me signed in on this device</label>');
    await logIn(agent, loginPage, 'shared-pc@hill.example', false);
    const set = sessionCookies(agent);
    expect(set.length).toBeGreaterThan(0);
    for (const header of set) expect(header).not.toMatch(/expires=|max-age=/i);

    // Using it (single sign-on, /account) keeps it a browser-session cookie.
    await ssoAgain(rp, agent);
    await agent.follow(await agent.get(`${gatehouse.issuer}/account`));
    for (const header of sessionCookies(agent)) expect(header).not.toMatch(/expires=|max-age=/i);
  });

  test('ticked: Expires at the idle deadline, moved by each use', async () => {
    await addStaff(gatehouse.services, 'own-laptop@hill.example', [{ schoolId, accessLevel: 'basic' }]);
    const { rp, agent } = await signIn('own-laptop@hill.example', true);
    const expiresOf = (header: string) => new Date(/expires=([^;]+)/i.exec(header)![1]!).getTime() / 1000;
    const first = sessionCookies(agent).at(-1)!;
    expect(expiresOf(first) - now()).toBeGreaterThan(IDLE_SECONDS - 30);

    await editSession('own-laptop@hill.example', { exp: now() + 60 });
    agent.setCookies.length = 0;
    await agent.follow(await agent.get(`${gatehouse.issuer}/account`));
    const afterAccount = sessionCookies(agent).filter((header) => !header.includes('1970'));
    expect(afterAccount.length).toBeGreaterThan(0);
    for (const header of afterAccount) expect(expiresOf(header) - now()).toBeGreaterThan(IDLE_SECONDS - 30);
    expect((await ssoAgain(rp, agent)).location).toMatch(/callback\?code=/);
  });
});
