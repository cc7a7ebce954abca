import { pageHelpers, type PageDeps } from '../src/interactions/pages.ts';
import { refusalOf } from '../src/interactions/refusals.ts';
import { createWords, readLocales } from '../src/i18n/words.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { visibleText, type Page } from './support/agent.ts';
import { codeFor } from './support/totp.ts';
import {
  addClient,
  addSchool,
  addStaff,
  Agent,
  authorizationRequest,
  continueWithBasic,
  PASSWORD,
  REDIRECT_URI,
  relyingParty,
  start,
  submitLogin,
} from './support/scenario.ts';

/**
 * The words of the sign-in pages (issue 12): the step-up pages say which school system asked for
 * higher access and why, "Manage your account" is offered where it helps, a pause is said in UK
 * time, and every word is in both languages.
 */

let storage: TestStorage;
let gatehouse: TestGatehouse;
let schoolId: string;
let credentials: { clientId: string; clientSecret: string };
const HIGHER = { acr_values: 'urn:gatehouse:acr:higher' };

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

/** Signs in with the password at the school system; the page after it (the code page, the offer, or the client). */
async function signIn(email: string, params: Record<string, string> = {}) {
  const rp = await relyingParty(gatehouse.issuer, credentials);
  const agent = new Agent(REDIRECT_URI);
  const login = await start(agent, await authorizationRequest(rp, params));
  const afterPassword = await agent.follow(await submitLogin(agent, login, email, PASSWORD));
  return { rp, agent, login, afterPassword };
}

/** Adds an authenticator device to the account directly, as if through Account settings. */
async function addDevice(email: string) {
  const account = (await gatehouse.services.accounts.findByEmail(email))!;
  const form = await gatehouse.services.authenticators.beginEnrolment(account);
  await gatehouse.services.authenticators.completeEnrolment(account, form.enrolment, 'Phone', codeFor(form.manualKey), { ip: '127.0.0.1' });
}

const text = (page: Page) => visibleText(page.html);
const manageLink = (page: Page) =>
  /<a href="([^"]*)">(Manage your account|Rheoli eich cyfrif)<\/a>/.exec(page.html)?.[1]?.replaceAll('&#x3D;', '=');

describe('step-up: the school system that asked, and why', () => {
  test('the code page of a step-up names the school system and says why the code is needed, in the page’s language', async () => {
    await addStaff(gatehouse.services, 'step@hill.example', [{ schoolId, accessLevel: 'higher' }]);
    const { rp, agent, afterPassword } = await signIn('step@hill.example');
    await continueWithBasic(agent, afterPassword);
    await addDevice('step@hill.example');

    const english = await start(agent, await authorizationRequest(rp, HIGHER));
    expect(text(english)).toContain('Enter your code');
    expect(english.html).toContain(
      '<strong>Hill MIS</strong> asked for higher access. To keep safeguarding records safe, confirm it’s you with the 6-digit code from your authenticator app.',
    );
    expect(text(english)).toContain('enter the 6-digit code it shows for Gatehouse.');
    expect(manageLink(english)).toBe(`/account?client_id=${credentials.clientId}`);

    const welsh = await start(agent, await authorizationRequest(rp, { ...HIGHER, ui_locales: 'cy' }));
    expect(welsh.html).toContain('<html lang="cy">');
    expect(welsh.html).toContain('Mae <strong>Hill MIS</strong> wedi gofyn am fynediad uwch.');
    expect(text(welsh)).toContain('cadarnhewch mai chi sydd yma gyda’r cod 6 digid o’ch ap dilysu');
    expect(manageLink(welsh)).toBe(`/account?client_id=${credentials.clientId}`);
  });

  test('a sign-in that needs the code for its own sake does not say a school system asked', async () => {
    await addStaff(gatehouse.services, 'plain@hill.example', [{ schoolId, accessLevel: 'higher' }]);
    await addDevice('plain@hill.example');
    const { afterPassword } = await signIn('plain@hill.example');
    expect(text(afterPassword)).toContain('Enter your code');
    expect(text(afterPassword)).not.toContain('asked for higher access');
    // The way to Account settings is there on every code page.
    expect(manageLink(afterPassword)).toBe(`/account?client_id=${credentials.clientId}`);
  });

  test('the enrolment of a step-up says the same before "Add new device"', async () => {
    await addStaff(gatehouse.services, 'enrol@hill.example', [{ schoolId, accessLevel: 'higher' }]);
    const { rp, agent, afterPassword } = await signIn('enrol@hill.example');
    const offer = text(afterPassword);
    expect(offer).toContain('Set up your authenticator');
    expect(offer).not.toContain('asked for higher access');
    await continueWithBasic(agent, afterPassword);

    const enrol = await start(agent, await authorizationRequest(rp, HIGHER));
    expect(enrol.url).toMatch(/\/enrol$/);
    const asked = enrol.html.indexOf('<strong>Hill MIS</strong> asked for higher access. To keep safeguarding records safe,');
    expect(asked).toBeGreaterThanOrEqual(0);
    expect(asked).toBeLessThan(enrol.html.indexOf('<h2>Add new device</h2>'));
  });
});

describe('Manage your account, where it helps', () => {
  test('a refused password offers it, with the school system; a form with nothing in it does not', async () => {
    await addStaff(gatehouse.services, 'refused@hill.example', [{ schoolId, accessLevel: 'basic' }]);
    const rp = await relyingParty(gatehouse.issuer, credentials);
    const agent = new Agent(REDIRECT_URI);
    const login = await start(agent, await authorizationRequest(rp));
    expect(manageLink(login)).toBeUndefined();
    const empty = await submitLogin(agent, login, '', '');
    expect(text(empty)).toContain('Enter your email address and your password.');
    expect(manageLink(empty)).toBeUndefined();
    const refused = await submitLogin(agent, login, 'refused@hill.example', 'not the password at all');
    expect(refused.status).toBe(401);
    expect(text(refused)).toContain('The email address or password is not right.');
    expect(manageLink(refused)).toBe(`/account?client_id=${credentials.clientId}`);
  });

  test('the no-access page names the school in the header and the alert, and offers it', async () => {
    const otherSchool = (await addSchool(gatehouse.services, 'Valley High School')).id;
    await addStaff(gatehouse.services, 'elsewhere@hill.example', [{ schoolId: otherSchool, accessLevel: 'basic' }]);
    const { afterPassword } = await signIn('elsewhere@hill.example', { ui_locales: 'cy' });
    expect(afterPassword.status).toBe(403);
    expect(afterPassword.html).toContain('<h1 class="school">Hill Primary School</h1>');
    expect(text(afterPassword)).toContain('Nid oes gan eich cyfrif fynediad at Hill Primary School.');
    expect(text(afterPassword)).toContain('Allgofnodwch o Gatehouse');
    expect(manageLink(afterPassword)).toBe(`/account?client_id=${credentials.clientId}`);
  });
});

describe('a pause is said in UK time, in the page’s language', () => {
  const deps = { services: { words: createWords({ serviceName: 'Gatehouse', helpdeskContact: undefined }, { strict: true }) } };
  const { say } = pageHelpers(deps as unknown as PageDeps);
  const paused = refusalOf({ ok: false, reason: 'throttled', lockedUntil: new Date('2026-07-01T07:35:00Z') } as never);

  test.each([
    ['en', 'Too many wrong attempts. Signing in is paused until 08:35. Try again then, or ask your school’s IT helpdesk.'],
    ['cy', 'Gormod o ymdrechion anghywir. Mae mewngofnodi wedi’i oedi tan 08:35.'],
  ])('%s', (language, words) => {
    const said = say({ state: { language } } as never, paused.words);
    expect(said).toContain(words);
    expect(said).not.toContain('UTC');
    expect(paused.status).toBe(429);
  });

  test('in winter, UK time is UTC', () => {
    const winter = refusalOf({ ok: false, reason: 'throttled', lockedUntil: new Date('2026-12-01T07:35:00Z') } as never);
    expect(say({ state: { language: 'en' } } as never, winter.words)).toContain('paused until 07:35.');
  });
});

test('the sign-in and password words exist in both languages, with the same keys', () => {
  const keys = (value: unknown, prefix = ''): string[] =>
    typeof value === 'object' && value !== null
      ? Object.entries(value).flatMap(([name, inner]) => keys(inner, `${prefix}${name}.`))
      : [prefix.slice(0, -1)];
  const locales = readLocales();
  for (const area of ['signin', 'password']) {
    expect(keys(locales.cy[area]).sort()).toEqual(keys(locales.en[area]).sort());
  }
});
