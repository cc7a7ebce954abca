import http from 'node:http';
import { verifyPassword } from '../src/auth/passwords.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { formField, visibleText } from './support/agent.ts';
import { linkIn, startSmtpServer } from './support/smtp.ts';
import {
  addClient,
  addSchool,
  addStaff,
  Agent,
  authorizationRequest,
  exchange,
  REDIRECT_URI,
  relyingParty,
  start,
  submitLogin,
} from './support/scenario.ts';

let storage: TestStorage;
let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
let gatehouse: TestGatehouse;
let schoolId: string;
let credentials: { clientId: string; clientSecret: string };
const NEW_PASSWORD = 'a quiet library at half past four';

beforeAll(async () => {
  storage = await createTestStorage();
  smtp = await startSmtpServer();
  gatehouse = await startTestGatehouse(storage, { SMTP_URL: smtp.url, MAIL_FROM: 'Gatehouse <sso@gatehouse.test>' });
  schoolId = (await addSchool(gatehouse.services, 'Hill Primary School')).id;
  credentials = await addClient(gatehouse.services, 'Hill MIS', [schoolId]);
});

afterAll(async () => {
  await gatehouse?.close();
  await smtp?.close();
  await storage?.drop();
});

async function requestLink(agent: Agent, email: string) {
  const form = await agent.get(`${gatehouse.issuer}/password/forgot`);
  return agent.post(`${gatehouse.issuer}/password/forgot`, { _csrf: formField(form.html, '_csrf'), email });
}

/** The error said next to a field (field-error partial), or null when there is none. */
function fieldError(html: string, field: string): string | null {
  const match = new RegExp(`<p class="field-error" id="${field}-error" role="alert">([^<]*)</p>`).exec(html);
  return match ? visibleText(match[1]!) : null;
}

/** The value of the login page's Email address field. */
const emailValue = (html: string) => /<input id="email"[^>]* value="([^"]*)"/.exec(html)?.[1]?.replace('&#x40;', '@');

async function setPassword(agent: Agent, link: string, password: string, confirm = password) {
  const form = await agent.get(link);
  expect(form.status).toBe(200);
  return agent.post(`${gatehouse.issuer}/password/reset`, {
    _csrf: formField(form.html, '_csrf'),
    token: formField(form.html, 'token'),
    password,
    confirm,
  });
}

test('the answer is the same whether or not the account exists, and only a real account gets mail', async () => {
  await addStaff(gatehouse.services, 'known@hill.example', [{ schoolId, accessLevel: 'basic' }], null);
  const agent = new Agent(REDIRECT_URI);
  const known = await requestLink(agent, 'known@hill.example');
  const unknown = await requestLink(agent, 'unknown@hill.example');
  const words = (page: { html: string }, email: string) => visibleText(page.html).replace(email, 'EMAIL');
  expect(known.status).toBe(200);
  expect(unknown.status).toBe(200);
  expect(words(known, 'known@hill.example')).toBe(words(unknown, 'unknown@hill.example'));
  const mail = await smtp.waitFor('known@hill.example', /Set your Gatehouse password/);
  expect(linkIn(mail).startsWith(`${gatehouse.issuer}/password/reset?token=`)).toBe(true);
  expect(mail.html).toContain('Set your password');
  await everyRequestedMailHandled();
  expect(smtp.inbox.filter((m) => m.to.includes('unknown@hill.example'))).toEqual([]);
});

/**
 * Resolves once every reset request started in the background has sent its mail or decided not
 * to: "no mail" is then a fact, not the absence of one within a sleep.
 */
const everyRequestedMailHandled = () => gatehouse.services.passwordReset.drain();

/** A POST with the Host header we choose: fetch (undici) always sends the URL's own host. */
function postWithHost(url: string, host: string, cookies: Map<string, string>, form: Record<string, string>) {
  const body = new URLSearchParams(form).toString();
  return new Promise<{ status: number; html: string }>((resolve, reject) => {
    const request = http.request(url, {
      method: 'POST',
      headers: {
        host,
        'x-forwarded-host': host,
        'x-forwarded-proto': 'https',
        'content-type': 'application/x-www-form-urlencoded',
        'content-length': Buffer.byteLength(body),
        cookie: [...cookies].map(([name, value]) => `${name}=${value}`).join('; '),
      },
    });
    request.on('response', (response) => {
      let html = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => (html += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, html }));
    });
    request.on('error', reject);
    request.end(body);
  });
}

test('the link is built from ISSUER, never from the Host header', async () => {
  await addStaff(gatehouse.services, 'host@hill.example', [{ schoolId, accessLevel: 'basic' }], null);
  const agent = new Agent(REDIRECT_URI);
  const form = await agent.get(`${gatehouse.issuer}/password/forgot`);
  const sent = await postWithHost(`${gatehouse.issuer}/password/forgot`, 'evil.example', agent.cookies, {
    _csrf: formField(form.html, '_csrf'),
    email: 'host@hill.example',
  });
  expect(sent.status).toBe(200);
  expect(visibleText(sent.html)).toContain('we have sent it a link');
  const mail = await smtp.waitFor('host@hill.example', /Set your Gatehouse password/);
  expect(linkIn(mail).startsWith(`${gatehouse.issuer}/password/reset?token=`)).toBe(true);
  expect(`${mail.text}${mail.html}`).not.toContain('evil.example');
});

test('a weak or mismatched password is refused in words, and the link still works after', async () => {
  await addStaff(gatehouse.services, 'weak@hill.example', [{ schoolId, accessLevel: 'basic' }], null);
  const agent = new Agent(REDIRECT_URI);
  await requestLink(agent, 'weak@hill.example');
  const link = linkIn(await smtp.waitFor('weak@hill.example', /Set your Gatehouse password/));
  // The page always shows the hint "Use at least 15 characters": read the error next to the field.
  const tooShort = await setPassword(agent, link, 'short');
  expect(tooShort.status).toBe(400);
  expect(fieldError(tooShort.html, 'password')).toBe(
    'Your password must be at least 15 characters long. A few ordinary words together make a good one.',
  );
  expect(fieldError(tooShort.html, 'confirm')).toBeNull();
  const common = await setPassword(agent, link, 'password1234567890');
  expect(fieldError(common.html, 'password')).toContain('on a list of common or breached passwords');
  const mismatch = await setPassword(agent, link, NEW_PASSWORD, `${NEW_PASSWORD}!`);
  expect(mismatch.status).toBe(400);
  expect(fieldError(mismatch.html, 'confirm')).toBe('The two passwords are not the same.');
  expect(fieldError(mismatch.html, 'password')).toBeNull();
  const done = await setPassword(agent, link, NEW_PASSWORD);
  expect(visibleText(done.html)).toContain('Your password has been set');
});

test('a used, expired or tampered link gets a page that says so and offers a new email', async () => {
  await addStaff(gatehouse.services, 'reuse@hill.example', [{ schoolId, accessLevel: 'basic' }], null);
  const agent = new Agent(REDIRECT_URI);
  await requestLink(agent, 'reuse@hill.example');
  const link = linkIn(await smtp.waitFor('reuse@hill.example', /Set your Gatehouse password/));
  await setPassword(agent, link, NEW_PASSWORD);
  await smtp.waitFor('reuse@hill.example', /password was changed/);

  const used = await agent.get(link);
  expect(used.status).toBe(400);
  expect(visibleText(used.html)).toContain('This link has already been used.');
  expect(visibleText(used.html)).toContain('Email me a new link');

  const tamperedLink = new URL(link);
  tamperedLink.searchParams.set('token', `${tamperedLink.searchParams.get('token')!.slice(0, -3)}abc`);
  const tampered = await agent.get(tamperedLink.toString());
  expect(visibleText(tampered.html)).toContain('This link is not valid.');
  const garbage = await agent.get(`${gatehouse.issuer}/password/reset?token=%00%ff<script>`);
  expect(garbage.status).toBe(400);
  expect(garbage.html).not.toContain('<script>');

  await requestLink(agent, 'reuse@hill.example');
  await everyRequestedMailHandled();
  const links = smtp.inbox.filter((m) => m.to.includes('reuse@hill.example') && /Set your/.test(m.subject));
  expect(links).toHaveLength(2);
  const second = links[1]!;
  expect(linkIn(second)).not.toBe(link);
  await gatehouse.database.dataSource.query(
    `UPDATE password_reset_tokens SET expires_at = now() - interval '1 minute' WHERE used_at IS NULL`,
  );
  const expired = await agent.get(linkIn(second));
  expect(visibleText(expired.html)).toContain('This link has expired.');
});

test('first-time journey over HTTP: from the login page to a code at the client, never signed in by the reset', async () => {
  await addStaff(gatehouse.services, 'new@hill.example', [{ schoolId, accessLevel: 'basic' }], null);
  const rp = await relyingParty(gatehouse.issuer, credentials);
  const agent = new Agent(REDIRECT_URI);
  const authorization = await authorizationRequest(rp);
  const login = await start(agent, authorization);
  const uid = /\/interaction\/([^/?]+)/.exec(login.url)![1]!;

  const forgot = await agent.get(`${gatehouse.issuer}/interaction/${uid}/forgot`);
  await agent.post(`${gatehouse.issuer}/interaction/${uid}/forgot`, { _csrf: formField(forgot.html, '_csrf'), email: 'NEW@hill.example' });
  // Asked from Hill's login page: the mail comes from Hill's sign-in, and the link's pages show Hill.
  const link = linkIn(await smtp.waitFor('new@hill.example', /^Set your password for Hill Primary School$/));
  const form = await agent.get(link);
  expect(form.html).toContain('<h1 class="school">Hill Primary School</h1>');
  const done = await setPassword(agent, link, NEW_PASSWORD);
  expect(done.html).toContain('<h1 class="school">Hill Primary School</h1>');
  await smtp.waitFor('new@hill.example', /^Your password for Hill Primary School was changed$/);
  const continueLink = /href="([^"]+)"[^>]*>Continue to log in/.exec(done.html)?.[1]?.replace('&#x3D;', '=');
  expect(continueLink).toBe(`/interaction/${uid}?reset=1`);

  const loginAgain = await agent.get(`${gatehouse.issuer}${continueLink}`);
  expect(visibleText(loginAgain.html)).toContain('Your password has been set. Log in with your new password.');
  expect(loginAgain.html).toContain('name="password"');
  // The address the password was just set for is filled in, once.
  const given = agent.setCookies.find((header) => header.startsWith('gatehouse.reset-email='));
  expect(given).toMatch(/; path=\/; expires=[^;]+; samesite=lax; httponly$/);
  const expires = new Date(/expires=([^;]+)/.exec(given!)![1]!).getTime() - Date.now();
  expect(expires).toBeGreaterThan(9 * 60_000);
  expect(expires).toBeLessThanOrEqual(10 * 60_000);
  expect(emailValue(loginAgain.html)).toBe('new@hill.example');
  expect(emailValue((await agent.get(`${gatehouse.issuer}${continueLink}`)).html)).toBe('');
  const callback = await agent.follow(await submitLogin(agent, loginAgain, 'new@hill.example', NEW_PASSWORD));
  const claims = (await exchange(rp, callback, authorization)).claims()!;
  expect(claims.email).toBe('new@hill.example');
  expect(claims.email_verified).toBe(true);
});

test('the email of a reset is filled in only from a cookie this server signed', async () => {
  const rp = await relyingParty(gatehouse.issuer, credentials);
  const agent = new Agent(REDIRECT_URI);
  const login = await start(agent, await authorizationRequest(rp));
  // A cookie someone else wrote (no valid signature) is ignored.
  agent.cookies.set('gatehouse.reset-email', 'victim%40hill.example');
  agent.cookies.set('gatehouse.reset-email.sig', 'Zm9yZ2VkIHNpZ25hdHVyZSBoZXJl');
  const page = await agent.get(login.url);
  expect(emailValue(page.html)).toBe('');
});

test('a locked account gets no reset mail', async () => {
  await addStaff(gatehouse.services, 'locked@hill.example', [{ schoolId, accessLevel: 'basic' }], null);
  await gatehouse.services.accounts.setStatus('locked@hill.example', 'locked');
  const page = await requestLink(new Agent(REDIRECT_URI), 'locked@hill.example');
  expect(visibleText(page.html)).toContain('we have sent it a link');
  await everyRequestedMailHandled();
  expect(smtp.inbox.filter((m) => m.to.includes('locked@hill.example'))).toEqual([]);
});

test('a link outstanding when the account is locked sets nothing, shown or posted', async () => {
  const account = await addStaff(gatehouse.services, 'locked-later@hill.example', [{ schoolId, accessLevel: 'basic' }], null);
  const agent = new Agent(REDIRECT_URI);
  await requestLink(agent, 'locked-later@hill.example');
  const link = linkIn(await smtp.waitFor('locked-later@hill.example', /Set your Gatehouse password/));
  const form = await agent.get(link); // shown while the account could still use it
  await gatehouse.services.accounts.setStatus('locked-later@hill.example', 'locked');

  const shown = await agent.get(link);
  expect(shown.status).toBe(400);
  expect(visibleText(shown.html)).toContain('This link is not valid.');
  const posted = await agent.post(`${gatehouse.issuer}/password/reset`, {
    _csrf: formField(form.html, '_csrf'),
    token: new URL(link).searchParams.get('token')!,
    password: NEW_PASSWORD,
    confirm: NEW_PASSWORD,
  });
  expect(posted.status).toBe(400);
  expect(visibleText(posted.html)).toContain('This link is not valid.');
  const [row] = await gatehouse.database.dataSource.query(`SELECT password_hash FROM accounts WHERE id = $1`, [account.id]);
  expect(row.password_hash).toBeNull();
  await everyRequestedMailHandled();
  expect(smtp.inbox.filter((m) => m.to.includes('locked-later@hill.example') && /password was changed/.test(m.subject))).toEqual([]);
});

test('of two simultaneous uses of one link exactly one sets the password; the other is told it was used', async () => {
  const account = await addStaff(gatehouse.services, 'twice@hill.example', [{ schoolId, accessLevel: 'basic' }], null);
  const agent = new Agent(REDIRECT_URI);
  await requestLink(agent, 'twice@hill.example');
  const link = linkIn(await smtp.waitFor('twice@hill.example', /Set your Gatehouse password/));
  const form = await agent.get(link);
  const post = (password: string) =>
    agent.post(`${gatehouse.issuer}/password/reset`, {
      _csrf: formField(form.html, '_csrf'),
      token: formField(form.html, 'token'),
      password,
      confirm: password,
    });
  const passwords = [`${NEW_PASSWORD} one`, `${NEW_PASSWORD} two`];
  const pages = await Promise.all(passwords.map(post));

  const won = pages.findIndex((page) => visibleText(page.html).includes('Your password has been set'));
  expect(won).toBeGreaterThanOrEqual(0);
  const lost = pages[1 - won]!;
  expect(lost.status).toBe(400);
  expect(visibleText(lost.html)).toContain('This link has already been used.');
  const [row] = await gatehouse.database.dataSource.query(`SELECT password_hash FROM accounts WHERE id = $1`, [account.id]);
  expect(await verifyPassword(row.password_hash, passwords[won]!)).toBe(true);
  expect(await verifyPassword(row.password_hash, passwords[1 - won]!)).toBe(false);
});

test('a malformed email address is refused in words next to the field', async () => {
  const page = await requestLink(new Agent(REDIRECT_URI), 'not an email');
  expect(page.status).toBe(400);
  expect(visibleText(page.html)).toContain('Enter your email address in the right format');
  expect(page.html).toContain('aria-invalid="true"');
});
