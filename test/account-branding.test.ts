import crypto from 'node:crypto';
import { createWords } from '../src/i18n/words.ts';
import { formField, visibleText, type Page } from './support/agent.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
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
  submitCode,
  submitLogin,
} from './support/scenario.ts';
import { codeFor } from './support/totp.ts';

/**
 * Account settings reached from a school's system names that school on every page (and its
 * sign-in); its pages are in the person's language, remembered for their mails; device times are
 * UK time. Logging out is in the school system's language, under its school's name, and says
 * "Log out of <SERVICE_NAME>".
 */

const SERVICE = 'Schools Sign-In';
const SECRET = 'PE2XQOK6OZIFISKUKUQTAUBVIZIWGJCT';
const words = createWords({ serviceName: SERVICE, helpdeskContact: undefined }, { strict: true });

let storage: TestStorage;
let gatehouse: TestGatehouse;
let schoolId: string;
let credentials: { clientId: string; clientSecret: string };

beforeAll(async () => {
  storage = await createTestStorage();
  gatehouse = await startTestGatehouse(storage, { SERVICE_NAME: SERVICE });
  schoolId = (await addSchool(gatehouse.services, 'Ysgol Bro Teifi')).id;
  credentials = await addClient(gatehouse.services, 'Bro Teifi MIS', [schoolId]);
});

afterAll(async () => {
  await gatehouse?.close();
  await storage?.drop();
});

const header = (page: Page) => visibleText(/<h1 class="school">([\s\S]*?)<\/h1>/.exec(page.html)?.[1] ?? '');
const heading = (page: Page) => visibleText(/<h2>([\s\S]*?)<\/h2>/.exec(page.html)?.[1] ?? '');
const lang = (page: Page) => /<html lang="([^"]+)"/.exec(page.html)?.[1];
const accountAgent = () => new Agent('http://never.example/');

/** A member with one device whose code is known, added (and last used) at the given times. */
async function memberWithDevice(email: string, createdAt: string, lastUsedAt: string | null, atSchool = schoolId) {
  const account = await addStaff(gatehouse.services, email, [{ schoolId: atSchool, accessLevel: 'basic' }]);
  const id = crypto.randomUUID();
  const { services } = gatehouse;
  await services.repositories.authenticators.insert({
    id,
    accountId: account.id,
    name: 'Ffôn',
    secretSealed: services.box.seal(SECRET, `totp:${id}`),
    step: 0,
  });
  await gatehouse.database.dataSource.query('UPDATE authenticator_devices SET created_at = $2, last_used_at = $3 WHERE id = $1', [
    id,
    createdAt,
    lastUsedAt,
  ]);
  return account;
}

/** Signs in through whatever sign-in `first` leads to (password, then the code) and returns the page after. */
async function signInFrom(agent: Agent, first: Page, email: string): Promise<Page> {
  const afterPassword = await agent.follow(await submitLogin(agent, first, email, PASSWORD));
  return agent.follow(await submitCode(agent, afterPassword, codeFor(SECRET)));
}

test('Account settings from a school’s system: its school on every page and on its sign-in; unknown clients are ignored', async () => {
  const email = 'pennaeth@broteifi.example';
  await memberWithDevice(email, '2026-07-01T12:00:00Z', null);
  const agent = accountAgent();
  const login = await agent.follow(await agent.get(`${gatehouse.issuer}/account?client_id=${credentials.clientId}`));
  expect(login.html).toContain('name="password"');
  expect(header(login)).toBe('Ysgol Bro Teifi');

  const remembered = agent.setCookies.find((cookie) => cookie.startsWith('gatehouse.account_client='));
  expect(remembered).toMatch(/; path=\/account/i);
  expect(remembered).toMatch(/; samesite=lax/i);
  expect(remembered).toMatch(/; httponly/i);
  expect(agent.setCookies.some((cookie) => cookie.startsWith('gatehouse.account_client.sig='))).toBe(true);

  const keys = await signInFrom(agent, login, email);
  expect(heading(keys)).toBe('Security keys');
  expect(header(keys)).toBe('Ysgol Bro Teifi');
  // Every Account settings page after, without client_id again.
  const schools = await agent.get(`${gatehouse.issuer}/account/schools`);
  expect(heading(schools)).toBe('Your schools');
  expect(header(schools)).toBe('Ysgol Bro Teifi');

  // A client id nobody registered changes nothing; a forged cookie counts for nothing.
  expect(header(await agent.get(`${gatehouse.issuer}/account/schools?client_id=nobody`))).toBe('Ysgol Bro Teifi');
  const fresh = accountAgent();
  expect(header(await fresh.follow(await fresh.get(`${gatehouse.issuer}/account?client_id=nobody`)))).toBe(SERVICE);
  fresh.cookies.set('gatehouse.account_client', credentials.clientId);
  expect(header(await fresh.follow(await fresh.get(`${gatehouse.issuer}/account`)))).toBe(SERVICE);
  // Straight to Account settings, no school: the service's name.
  const plain = accountAgent();
  expect(header(await plain.follow(await plain.get(`${gatehouse.issuer}/account`)))).toBe(SERVICE);
});

test('a school the person does not work at is not the name on their Account settings', async () => {
  const elsewhere = (await addSchool(gatehouse.services, 'Ysgol Aberaeron')).id;
  const email = 'athro@aberaeron.example';
  await memberWithDevice(email, '2026-07-01T12:00:00Z', null, elsewhere);
  const agent = accountAgent();
  // A link from Bro Teifi's system (a mistake, or a lure): before sign-in the page may say Bro Teifi…
  const login = await agent.follow(await agent.get(`${gatehouse.issuer}/account?client_id=${credentials.clientId}`));
  const keys = await signInFrom(agent, login, email);
  expect(heading(keys)).toBe('Security keys');
  // …but once it is known who is signed in, it is not their school: the service's name.
  expect(header(keys)).toBe(SERVICE);
  expect(header(await agent.get(`${gatehouse.issuer}/account/schools`))).toBe(SERVICE);
  expect(header(await agent.get(`${gatehouse.issuer}/account/schools?client_id=${credentials.clientId}`))).toBe(SERVICE);
});

test('Account settings speak the person’s language, remember it for their mails, and show device times in UK time', async () => {
  const email = 'athro@broteifi.example';
  const account = await memberWithDevice(email, '2026-07-01T12:00:00Z', null);
  const winter = crypto.randomUUID();
  await gatehouse.services.repositories.authenticators.insert({
    id: winter,
    accountId: account.id,
    name: 'Llechen',
    secretSealed: gatehouse.services.box.seal(SECRET, `totp:${winter}`),
    step: 0,
  });
  await gatehouse.database.dataSource.query(`UPDATE authenticator_devices SET created_at = '2026-01-15T09:30:00Z' WHERE id = $1`, [winter]);
  const agent = accountAgent();
  agent.headers['accept-language'] = 'en-GB';
  await signInFrom(agent, await agent.follow(await agent.get(`${gatehouse.issuer}/account`)), email);
  // The language this person last used (on a Welsh school system's sign-in, say), not the browser's.
  await gatehouse.services.repositories.accounts.setLanguage(account.id, 'cy');
  const keys = await agent.get(`${gatehouse.issuer}/account/security-keys`);
  expect(lang(keys)).toBe('cy');
  expect(heading(keys)).toBe(words.t('cy', 'account.keys.heading'));
  const row = visibleText(/<tbody>([\s\S]*?)<\/tbody>/.exec(keys.html)?.[1] ?? '');
  // Summer: British Summer Time (UTC+1); winter: GMT.
  expect(row).toContain('Ffôn 1 Gorff 2026, 13:00');
  expect(row).toContain('Llechen 15 Ion 2026, 09:30');
  expect((await gatehouse.services.accounts.findById(account.id))?.language).toBe('cy');

  // The language link's choice wins over the browser and is remembered for the mails.
  agent.cookies.set('gatehouse.lang', `en.${Math.floor(Date.now() / 1000)}`);
  const english = await agent.get(`${gatehouse.issuer}/account/security-keys`);
  expect(lang(english)).toBe('en');
  expect(visibleText(english.html)).toContain('1 Jul 2026, 13:00');
  expect((await gatehouse.services.accounts.findById(account.id))?.language).toBe('en');
  // Remembered: without the link's cookie, a Welsh browser still gets the account's English.
  agent.cookies.delete('gatehouse.lang');
  agent.headers['accept-language'] = 'cy';
  expect(lang(await agent.get(`${gatehouse.issuer}/account/schools`))).toBe('en');
});

test('logging out in Welsh (ui_locales), under the school’s name, of SERVICE_NAME; the logged-out page follows', async () => {
  const rp = await relyingParty(gatehouse.issuer, credentials);

  async function signedInAtSchoolSystem(email: string) {
    await memberWithDevice(email, '2026-07-01T12:00:00Z', null);
    const agent = new Agent(REDIRECT_URI);
    const authorization = await authorizationRequest(rp);
    const back = await signInFrom(agent, await start(agent, authorization), email);
    const tokens = await exchange(rp, back, authorization);
    return { agent, idToken: tokens.id_token! };
  }

  const askToLogOut = async (agent: Agent, idToken: string) =>
    agent.follow(await agent.get(`${gatehouse.issuer}/session/end?${new URLSearchParams({ id_token_hint: idToken, ui_locales: 'cy' })}`));
  const confirm = async (agent: Agent, page: Page, logout: string) => {
    const action = /<form method="post" action="([^"]+)"/
      .exec(page.html)![1]!
      .replace(/&#x3D;/g, '=')
      .replace(/&amp;/g, '&');
    return agent.follow(await agent.post(new URL(action, page.url).toString(), { xsrf: formField(page.html, 'xsrf'), logout }));
  };

  // Log out of the school system only: still signed in, with the way to Account settings.
  const first = await signedInAtSchoolSystem('cymorth@broteifi.example');
  const question = await askToLogOut(first.agent, first.idToken);
  expect(lang(question)).toBe('cy');
  expect(header(question)).toBe('Ysgol Bro Teifi');
  expect(visibleText(question.html)).toContain(`Allgofnodi o ${SERVICE}`);
  expect(visibleText(question.html)).toContain('Allgofnodi o Bro Teifi MIS yn unig');
  expect(visibleText(question.html)).not.toContain('Gatehouse');
  const stillIn = await confirm(first.agent, question, '');
  expect(lang(stillIn)).toBe('cy');
  expect(header(stillIn)).toBe('Ysgol Bro Teifi');
  expect(heading(stillIn)).toBe('Wedi allgofnodi o Bro Teifi MIS');
  expect(stillIn.html).toContain(`<a href="/account?client_id&#x3D;${credentials.clientId}">Rheoli eich cyfrif</a>`);
  // Its language link returns to the same page, without the carried language.
  expect(stillIn.html).toContain(`/language/en?next&#x3D;${encodeURIComponent(`/session/end/success?client_id=${credentials.clientId}`)}`);

  // Log out of everything: said in Welsh, no account link.
  const second = await signedInAtSchoolSystem('gweinydd@broteifi.example');
  const done = await confirm(second.agent, await askToLogOut(second.agent, second.idToken), 'yes');
  expect(lang(done)).toBe('cy');
  expect(heading(done)).toBe('Rydych wedi allgofnodi');
  expect(visibleText(done.html)).toContain(`Rydych wedi allgofnodi o ${SERVICE}.`);
  expect(done.html).not.toContain('Rheoli eich cyfrif');
});

test('a logout form left open too long says so in plain words', async () => {
  const email = 'swyddfa@broteifi.example';
  await memberWithDevice(email, '2026-07-01T12:00:00Z', null);
  const agent = accountAgent();
  await signInFrom(agent, await agent.follow(await agent.get(`${gatehouse.issuer}/account`)), email);
  const question = await agent.get(`${gatehouse.issuer}/session/end?ui_locales=cy`);
  expect(visibleText(question.html)).toContain(words.t('cy', 'logout.confirm.question'));
  const action = /<form method="post" action="([^"]+)"/.exec(question.html)![1]!.replace(/&#x3D;/g, '=');
  const refused = await agent.send(new URL(action, question.url).toString(), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
    body: new URLSearchParams({ xsrf: 'not-the-one', logout: 'yes' }).toString(),
  });
  expect(refused.status).toBe(400);
  expect(lang(refused)).toBe('cy');
  expect(heading(refused)).toBe(words.t('cy', 'errors.oauth.logoutExpired.heading'));
  expect(refused.html).toContain('<a href="/account">Rheoli eich cyfrif</a>');
});
