import Koa from 'koa';
import pino from 'pino';
import request from 'supertest';
import { notFound } from '../src/domain/errors.ts';
import { errorPages } from '../src/http/errors.ts';
import { LANGUAGE_COOKIE } from '../src/http/language.ts';
import { loadViews } from '../src/http/views.ts';
import { LANGUAGES } from '../src/i18n/languages.ts';
import { createWords } from '../src/i18n/words.ts';
import { OAUTH_ERROR_WORDS, oauthErrorWords } from '../src/http/oauth-error-words.ts';
import { visibleText } from './support/agent.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { addClient, addSchool } from './support/scenario.ts';

/**
 * Every OAuth error a browser meets is in plain words, in the person's language, with what to do
 * next and the helpdesk; the code only in small print. Machines keep their JSON. Addresses that
 * do not exist get a hosted 404 page (a browser) or a plain 404 (a machine).
 */

const HELPDESK = 'IT helpdesk 01970 123456, help@schools.example';
const SERVICE = 'Schools Sign-In';
const words = createWords({ serviceName: SERVICE, helpdeskContact: HELPDESK }, { strict: true });
const BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

let storage: TestStorage;
let gatehouse: TestGatehouse;
let clientId: string;

beforeAll(async () => {
  storage = await createTestStorage();
  gatehouse = await startTestGatehouse(storage, { HELPDESK_CONTACT: HELPDESK, SERVICE_NAME: SERVICE });
  const school = await addSchool(gatehouse.services, 'Ysgol Glan y Môr');
  ({ clientId } = await addClient(gatehouse.services, 'Glan y Môr MIS', [school.id]));
});

afterAll(async () => {
  await gatehouse?.close();
  await storage?.drop();
});

const get = (path: string, headers: Record<string, string> = {}) => fetch(`${gatehouse.issuer}${path}`, { headers, redirect: 'manual' });

/** The parts of an error page a person reads. */
function errorPage(html: string) {
  const pick = (pattern: RegExp) => visibleText(pattern.exec(html)?.[1] ?? '');
  return {
    lang: /<html lang="([^"]+)"/.exec(html)?.[1],
    school: pick(/<h1 class="school">([\s\S]*?)<\/h1>/),
    heading: pick(/<h2>([\s\S]*?)<\/h2>/),
    message: pick(/<p role="alert">([\s\S]*?)<\/p>/),
    smallPrint: pick(/<p class="detail"><small>([\s\S]*?)<\/small><\/p>/),
    manageAccount: /<a href="([^"]+)">(Manage your account|Rheoli eich cyfrif)<\/a>/.exec(html)?.[1]?.replace(/&#x3D;/g, '='),
    text: visibleText(html),
  };
}

describe('the words', () => {
  test('every OAuth error with words of its own, the logout ones and the default have them in both languages', () => {
    for (const language of LANGUAGES) {
      for (const name of [...OAUTH_ERROR_WORDS, 'default', 'logoutExpired', 'logoutRequest']) {
        const heading = words.t(language, `errors.oauth.${name}.heading`);
        const detail = words.t(language, `errors.oauth.${name}.detail`);
        // Plain words: never the code itself.
        expect(`${heading} ${detail}`).not.toMatch(/\b[a-z]+_[a-z_]+\b/);
        expect(detail.length).toBeGreaterThan(20);
      }
    }
  });

  test('an error is named by its code, oidc-provider’s SessionNotFound by what it is, the rest by the default', () => {
    expect(oauthErrorWords('authorization', 'invalid_client')).toEqual({ key: 'oauth.invalid_client', manageAccount: false });
    expect(oauthErrorWords('resume', 'invalid_request', 'SessionNotFound')).toEqual({
      key: 'oauth.session_not_found',
      manageAccount: true,
    });
    expect(oauthErrorWords('authorization', 'invalid_dpop_proof').key).toBe('oauth.default');
    expect(oauthErrorWords('end_session_confirm', 'invalid_request').key).toBe('oauth.logoutExpired');
    expect(oauthErrorWords('end_session', 'invalid_client').key).toBe('oauth.logoutRequest');
    expect(oauthErrorWords('end_session', 'server_error').key).toBe('oauth.server_error');
  });
});

describe('OAuth errors in a browser', () => {
  test.each(LANGUAGES)('an unknown school system (%s): plain words, the code in small print, the helpdesk', async (language) => {
    const response = await get(`/auth?client_id=not-a-school-system&response_type=code&scope=openid&ui_locales=${language}`, {
      accept: BROWSER,
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const page = errorPage(await response.text());
    expect(page.lang).toBe(language);
    expect(page.school).toBe(SERVICE);
    expect(page.heading).toBe(words.t(language, 'errors.oauth.invalid_client.heading'));
    expect(page.message).toBe(words.t(language, 'errors.oauth.invalid_client.detail'));
    expect(page.smallPrint).toBe(words.t(language, 'errors.forItStaff', { code: 'invalid_client: client is invalid' }));
    // The code only in the small print.
    expect(page.text.replace(page.smallPrint, '')).not.toContain('invalid_client');
    expect(page.text).toContain(words.t(language, 'errors.helpdesk'));
    expect(page.text).toContain(HELPDESK);
    expect(page.manageAccount).toBeUndefined();
  });

  test('a known school system’s error names its school; an expired sign-in offers Manage your account', async () => {
    const wrongRedirect = await get(
      `/auth?client_id=${clientId}&response_type=code&scope=openid&redirect_uri=${encodeURIComponent('https://elsewhere.example/cb')}&ui_locales=cy`,
      { accept: BROWSER },
    );
    expect(wrongRedirect.status).toBe(400);
    const refused = errorPage(await wrongRedirect.text());
    expect(refused.school).toBe('Ysgol Glan y Môr');
    expect(refused.heading).toBe(words.t('cy', 'errors.oauth.invalid_redirect_uri.heading'));
    expect(refused.smallPrint).toContain('invalid_redirect_uri');

    // Coming back to a sign-in this browser no longer holds (oidc-provider's SessionNotFound).
    const expired = await get('/auth/no-such-interaction', { accept: BROWSER, 'accept-language': 'en-GB' });
    expect(expired.status).toBe(400);
    const page = errorPage(await expired.text());
    expect(page.lang).toBe('en');
    expect(page.heading).toBe('This sign-in has expired');
    expect(page.manageAccount).toBe('/account');
    expect(page.smallPrint).toContain('invalid_request');
  });

  test('machines keep the JSON answers, exactly', async () => {
    const json = await get('/me', { accept: 'application/json', authorization: 'Bearer not-a-token' });
    expect(json.status).toBe(401);
    expect(await json.json()).toEqual({ error: 'invalid_token', error_description: 'invalid token provided' });
    const logout = await get('/session/end?client_id=not-a-school-system', { accept: 'application/json' });
    expect(logout.status).toBe(400);
    expect(await logout.json()).toEqual({ error: 'invalid_client', error_description: 'client is invalid' });
    // The token endpoint answers in JSON whatever the Accept header says.
    const token = await fetch(`${gatehouse.issuer}/token`, {
      method: 'POST',
      headers: { accept: BROWSER, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=authorization_code&code=nothing',
    });
    expect(token.status).toBe(401);
    expect(await token.json()).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });
  });
});

describe('the hosted 404', () => {
  test.each(LANGUAGES)('a browser gets a page in its language (%s), still 404', async (language) => {
    const response = await get('/no-such-page?x=1', { accept: BROWSER, 'accept-language': language === 'cy' ? 'cy,en;q=0.5' : 'en-GB' });
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await response.text();
    const page = errorPage(html);
    expect(page.lang).toBe(language);
    expect(page.heading).toBe(words.t(language, 'errors.notFound.heading'));
    expect(page.message).toBe(words.t(language, 'errors.notFound.detail'));
    expect(page.text).toContain(HELPDESK);
    // The language link comes back to the same address.
    expect(html).toContain(`/language/${language === 'cy' ? 'en' : 'cy'}?next&#x3D;%2Fno-such-page%3Fx%3D1`);
  });

  test('also under our own areas, and a language chosen with the link wins', async () => {
    const response = await get('/account/no-such-tab', {
      accept: BROWSER,
      'accept-language': 'en-GB',
      cookie: 'gatehouse.lang=cy.1764150000',
    });
    expect(response.status).toBe(404);
    expect(errorPage(await response.text())).toMatchObject({ lang: 'cy', heading: words.t('cy', 'errors.notFound.heading') });
  });

  test.each([
    ['JSON', { accept: 'application/json' }],
    ['anything', { accept: '*/*' }],
    ['JSON before HTML', { accept: 'application/json, text/html;q=0.5' }],
  ])('a machine (%s) keeps the plain 404', async (_name, headers: Record<string, string>) => {
    const response = await get('/no-such-page', headers);
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type') ?? '').not.toMatch(/html/);
    expect(await response.text()).toBe('Not Found');
  });

  test('a request with no Accept header at all keeps the plain 404', async () => {
    const response = await request(gatehouse.url).get('/no-such-page').unset('Accept').expect(404);
    expect(response.text).toBe('Not Found');
  });
});

describe('the error pages of our own routes', () => {
  test('a domain rule’s own words are said in the reader’s language, and the page has the language link', async () => {
    const render = await loadViews(words, { serviceName: SERVICE, helpdeskContact: HELPDESK });
    const app = new Koa();
    app.use(errorPages(render, words, pino({ level: 'silent' })));
    app.use(() => {
      throw notFound('That device is not on your account.', { key: 'devices.notOnAccount' });
    });
    const page = await request(app.callback()).get('/account/security-keys/x/remove').set('Cookie', `${LANGUAGE_COOKIE}=cy.1764150000`);
    expect(page.status).toBe(404);
    expect(page.text).toContain(words.t('cy', 'devices.notOnAccount'));
    expect(page.text).not.toContain('That device is not on your account.');
    expect(page.text.replaceAll('&#x3D;', '=')).toContain('href="/language/en?next=%2Faccount%2Fsecurity-keys%2Fx%2Fremove"');
  });

  test('an expired sign-in offers the other language too', async () => {
    const page = await request(gatehouse.url).get('/interaction/abcdefghijklmnop');
    expect(page.status).toBe(400);
    expect(page.text).toContain('<nav class="language"');
    expect(page.text.replaceAll('&#x3D;', '=')).toContain('href="/language/cy?next=%2Finteraction%2Fabcdefghijklmnop"');
  });
});
