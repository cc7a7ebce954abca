import http from 'node:http';
import net from 'node:net';
import Handlebars from 'handlebars';
import Koa from 'koa';
import { registerWordHelpers } from '../src/i18n/handlebars.ts';
import { hereOf, LANGUAGE_COOKIE, languageOf, languageSwitch, localPath } from '../src/http/language.ts';
import { isLanguage, languageOfTags } from '../src/i18n/languages.ts';
import { formatDateTime, formatTime } from '../src/i18n/time.ts';
import { createWords } from '../src/i18n/words.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { Agent, addClient, addSchool, authorizationRequest, REDIRECT_URI, relyingParty, start } from './support/scenario.ts';

/**
 * The language of a page (DESIGN.md "Language and branding"): the school system's ui_locales,
 * then the language link's choice (a cookie), then Accept-Language, then English; the link's
 * own route; and UK time in both languages.
 */

/** A real koa context for a request with these headers: cookies and Accept-Language parsed as in the server. */
function requestWith(headers: Record<string, string>) {
  const req = new http.IncomingMessage(new net.Socket());
  req.headers = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
  req.method = 'GET';
  req.url = '/';
  return new Koa().createContext(req, new http.ServerResponse(req));
}

const chose = (language: string, at: number) => ({ cookie: `${LANGUAGE_COOKIE}=${language}.${at}` });
const NOW = 1_780_000_000;

describe('languageOf: ui_locales, then the link, then Accept-Language, then English', () => {
  test('nothing said: English', () => {
    expect(languageOf(requestWith({}))).toBe('en');
    expect(languageOf(requestWith({ 'accept-language': 'fr-FR, de;q=0.8' }))).toBe('en');
  });

  test('Accept-Language, by quality, with region tags', () => {
    expect(languageOf(requestWith({ 'accept-language': 'cy' }))).toBe('cy');
    expect(languageOf(requestWith({ 'accept-language': 'cy-GB' }))).toBe('cy');
    expect(languageOf(requestWith({ 'accept-language': 'fr, cy-GB;q=0.9, en;q=0.8' }))).toBe('cy');
    expect(languageOf(requestWith({ 'accept-language': 'en-US, cy;q=0.5' }))).toBe('en');
  });

  test('the link’s choice beats Accept-Language', () => {
    expect(languageOf(requestWith({ 'accept-language': 'cy', ...chose('en', NOW) }))).toBe('en');
    expect(languageOf(requestWith({ 'accept-language': 'en-GB', ...chose('cy', NOW) }))).toBe('cy');
  });

  test('a cookie that is not a choice is ignored', () => {
    for (const value of ['fr.1780000000', 'cy', 'cy.', 'cy.soon', 'CY.1780000000']) {
      expect([value, languageOf(requestWith({ 'accept-language': 'en', cookie: `${LANGUAGE_COOKIE}=${value}` }))]).toEqual([value, 'en']);
    }
  });

  test('ui_locales beats the link’s earlier choice and Accept-Language', () => {
    const ctx = requestWith({ 'accept-language': 'en', ...chose('en', NOW - 60) });
    expect(languageOf(ctx, { uiLocales: 'cy', askedAt: NOW })).toBe('cy');
    expect(languageOf(requestWith({ 'accept-language': 'cy' }), { uiLocales: 'en', askedAt: NOW })).toBe('en');
    // Without knowing when the sign-in began, ui_locales is the school system's word and wins.
    expect(languageOf(requestWith(chose('en', NOW + 60)), { uiLocales: 'cy' })).toBe('cy');
  });

  test('a choice made with the link after the sign-in began wins over ui_locales', () => {
    expect(languageOf(requestWith(chose('en', NOW + 5)), { uiLocales: 'cy', askedAt: NOW })).toBe('en');
    expect(languageOf(requestWith(chose('cy', NOW)), { uiLocales: 'en', askedAt: NOW })).toBe('cy');
  });

  test('ui_locales: the first language Gatehouse speaks, region tags included, unknown tags skipped', () => {
    expect(languageOfTags('cy-GB')).toBe('cy');
    expect(languageOfTags('en-US')).toBe('en');
    expect(languageOfTags('fr-CA de cy en')).toBe('cy');
    expect(languageOfTags('  CY  en ')).toBe('cy');
    expect(languageOfTags('fr de')).toBeUndefined();
    expect(languageOfTags('')).toBeUndefined();
    expect(languageOfTags(['cy'])).toBeUndefined();
    expect(languageOf(requestWith({ 'accept-language': 'cy' }), { uiLocales: 'fr de', askedAt: NOW })).toBe('cy');
    expect(isLanguage('cy')).toBe(true);
    expect(isLanguage('cy-GB')).toBe(false);
  });
});

describe('the language link', () => {
  test('localPath: only a path on this site', () => {
    for (const good of ['/password/forgot', '/account?client_id=gh_x', '/interaction/abc/login', '/']) {
      expect(localPath(good, '/account')).toBe(good);
    }
    for (const bad of [
      '//evil.example',
      '//evil.example/path',
      '/\\evil.example',
      '/\\/evil',
      'https://evil.example',
      'evil',
      '',
      '/a b',
      '/x\n',
      undefined,
      7,
      ['/a'],
    ]) {
      expect([bad, localPath(bad, '/account')]).toEqual([bad, '/account']);
    }
    expect(localPath(`/${'a'.repeat(2000)}`, '/account')).toBe('/account');
  });

  test('leads to the other language and back to the same page, without ui_locales (which would win again)', () => {
    expect(languageSwitch('en', '/password/forgot')).toEqual({ href: '/language/cy?next=%2Fpassword%2Fforgot', language: 'cy' });
    expect(languageSwitch('cy', '/account')).toEqual({ href: '/language/en?next=%2Faccount', language: 'en' });
    const ctx = requestWith({});
    ctx.path = '/auth';
    ctx.querystring = 'client_id=gh_x&ui_locales=cy&state=s';
    expect(hereOf(ctx)).toBe('/auth?client_id=gh_x&state=s');
    ctx.querystring = 'ui_locales=cy';
    expect(hereOf(ctx)).toBe('/auth');
  });
});

describe('UK time, in both languages', () => {
  // Whatever the server's zone: Europe/London, with British Summer Time.
  const july = new Date('2026-07-14T12:05:00Z');
  const january = new Date('2026-01-14T12:05:00Z');

  test('in July it is BST (UTC+1)', () => {
    expect(formatTime(july, 'en')).toBe('13:05');
    expect(formatTime(july, 'cy')).toBe('13:05');
    expect(formatDateTime(july, 'en')).toMatch(/14 Jul 2026.*13:05/);
    expect(formatDateTime(july, 'cy')).toMatch(/14 Gorff 2026.*13:05/);
  });

  test('in January it is GMT', () => {
    expect(formatTime(january, 'en')).toBe('12:05');
    expect(formatTime(january, 'cy')).toBe('12:05');
    expect(formatDateTime(january, 'en')).toMatch(/14 Jan 2026.*12:05/);
    expect(formatDateTime(january, 'cy')).toMatch(/14 Ion 2026.*12:05/);
  });

  test('the hour the clocks change', () => {
    // 29 March 2026: 01:00 GMT becomes 02:00 BST.
    expect(formatTime(new Date('2026-03-29T00:59:00Z'), 'en')).toBe('00:59');
    expect(formatTime(new Date('2026-03-29T01:00:00Z'), 'en')).toBe('02:00');
  });
});

describe('the words', () => {
  test('the service and the helpdesk are in every string, unescaped (templates escape)', () => {
    const words = createWords({ serviceName: 'Cwm & Co SSO', helpdeskContact: '01970 123456' }, { strict: true });
    expect(words.t('en', 'common.helpdesk.withContact')).toBe('Need help? Contact your school’s IT helpdesk: 01970 123456.');
    expect(words.t('cy', 'common.helpdesk.withContact')).toBe('Angen help? Cysylltwch â desg gymorth TG eich ysgol: 01970 123456.');
    expect(words.t('cy', 'common.language.switchTo')).toBe('English');
    expect(words.t('en', 'common.language.switchTo')).toBe('Cymraeg');
  });

  test('a missing key throws in tests, and outside them is reported once and shown as the key', () => {
    const strict = createWords({ serviceName: 'Gatehouse', helpdeskContact: undefined }, { strict: true });
    expect(() => strict.t('cy', 'common.noSuchWords')).toThrow(/common\.noSuchWords/);
    const missing: string[] = [];
    const lenient = createWords(
      { serviceName: 'Gatehouse', helpdeskContact: undefined },
      { onMissing: (key, language) => missing.push(`${language}:${key}`) },
    );
    expect(lenient.t('cy', 'common.noSuchWords')).toBe('common.noSuchWords');
    lenient.t('cy', 'common.noSuchWords');
    expect(missing).toEqual(['cy:common.noSuchWords']);
    expect(lenient.has('cy', 'common.singleSignOn')).toBe(true);
    expect(lenient.has('cy', 'common.noSuchWords')).toBe(false);
  });
});

describe('GET /language/:language against a running Gatehouse', () => {
  let storage: TestStorage;
  let gatehouse: TestGatehouse;

  beforeAll(async () => {
    storage = await createTestStorage();
    gatehouse = await startTestGatehouse(storage);
  });

  afterAll(async () => {
    await gatehouse?.close();
    await storage?.drop();
  });

  const choose = (path: string) => fetch(`${gatehouse.issuer}${path}`, { redirect: 'manual' });
  const htmlLang = (html: string) => /<html lang="([^"]+)"/.exec(html)?.[1];
  /** The language link's address as the browser reads it (Handlebars writes `=` as `&#x3D;`). */
  const languageLink = (html: string) =>
    /<nav class="language"[^>]*>\s*<a href="([^"]+)"/
      .exec(html)?.[1]
      ?.replace(/&#x3D;/g, '=')
      .replace(/&amp;/g, '&');

  test('remembers the choice for a year in an httpOnly cookie and goes back to the page', async () => {
    const before = Math.floor(Date.now() / 1000);
    const response = await choose('/language/cy?next=/password/forgot');
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('/password/forgot');
    expect(response.headers.get('cache-control')).toBe('no-store');
    const cookie = response.headers.getSetCookie().find((header) => header.startsWith(`${LANGUAGE_COOKIE}=`))!;
    expect(cookie).toMatch(
      new RegExp(`^${LANGUAGE_COOKIE.replace('.', '\\.')}=cy\\.(\\d+); path=/; expires=[^;]+; samesite=lax; httponly$`),
    );
    const at = Number(/=cy\.(\d+)/.exec(cookie)![1]);
    expect(at).toBeGreaterThanOrEqual(before);
    const expires = Date.parse(/expires=([^;]+)/.exec(cookie)![1]!);
    expect(expires - Date.now()).toBeGreaterThan(364 * 24 * 3600 * 1000);

    // The page it returns to is in Welsh, whatever the browser says.
    const page = await fetch(`${gatehouse.issuer}/password/forgot`, {
      headers: { cookie: cookie.split(';')[0]!, 'accept-language': 'en-GB' },
    });
    expect(htmlLang(await page.text())).toBe('cy');
  });

  test('goes only to a page on this site: anything else goes to Account settings', async () => {
    for (const next of ['//evil.example', '//evil.example/account', '/\\evil.example', 'https://evil.example/', 'evil.example', '']) {
      const response = await choose(`/language/en?next=${encodeURIComponent(next)}`);
      expect([next, response.status, response.headers.get('location')]).toEqual([next, 302, '/account']);
    }
    const none = await choose('/language/en');
    expect(none.headers.get('location')).toBe('/account');
  });

  test('a language Gatehouse does not speak is a page that is not there', async () => {
    const response = await choose('/language/fr?next=/account');
    expect(response.status).toBe(404);
    expect(response.headers.getSetCookie().some((header) => header.startsWith(`${LANGUAGE_COOKIE}=`))).toBe(false);
  });

  test('Accept-Language without a choice; <html lang> and the link to the other language follow', async () => {
    const welsh = await (
      await fetch(`${gatehouse.issuer}/password/forgot`, { headers: { 'accept-language': 'cy-GB,cy;q=0.9,en;q=0.8' } })
    ).text();
    expect(htmlLang(welsh)).toBe('cy');
    expect(languageLink(welsh)).toBe('/language/en?next=%2Fpassword%2Fforgot');
    const english = await (await fetch(`${gatehouse.issuer}/password/forgot`, { headers: { 'accept-language': 'de' } })).text();
    expect(htmlLang(english)).toBe('en');
    expect(languageLink(english)).toBe('/language/cy?next=%2Fpassword%2Fforgot');
  });

  test('a sign-in asked for in Welsh is in Welsh until the person chooses English with the link', async () => {
    const { services } = gatehouse;
    const school = await addSchool(services, 'Ysgol Penglais', 'SY23 3AS');
    const credentials = await addClient(services, 'Penglais MIS', [school.id]);
    const config = await relyingParty(gatehouse.issuer, credentials);
    const agent = new Agent(REDIRECT_URI);
    agent.headers['accept-language'] = 'en-GB';
    // An earlier choice of English, before this sign-in began: the school system's ui_locales wins.
    agent.cookies.set(LANGUAGE_COOKIE, `en.${Math.floor(Date.now() / 1000) - 3600}`);
    const login = await start(agent, await authorizationRequest(config, { ui_locales: 'cy-GB en' }));
    expect(login.status).toBe(200);
    expect(htmlLang(login.html)).toBe('cy');
    const link = languageLink(login.html);
    expect(link).toMatch(/^\/language\/en\?next=%2Finteraction%2F/);

    // English with the link, after the sign-in began: the rest of the sign-in is in English.
    const chosen = await agent.get(`${gatehouse.issuer}${link}`);
    expect(chosen.location).toBe(login.url);
    const again = await agent.get(chosen.location!);
    expect(htmlLang(again.html)).toBe('en');
  });
});

describe('words with markup (tHtml)', () => {
  const brand = { serviceName: 'Cwm <b>&</b> SSO', helpdeskContact: '<i>x</i>' };
  const handlebars = Handlebars.create();
  registerWordHelpers(handlebars, createWords(brand, { strict: true }), brand);

  test('the operator’s SERVICE_NAME is escaped; our own markup is kept', () => {
    const html = handlebars.compile('{{tHtml "signin.accessDenied.wrongAccount"}}')({ language: 'en' });
    expect(html).toContain('Log out of Cwm &lt;b&gt;&amp;&lt;/b&gt; SSO');
    expect(html).toContain('<a href="/session/end">');
    expect(html).not.toContain('<b>');
  });

  test('a value (a school system’s name, which its registrant chose) is escaped', () => {
    const html = handlebars.compile('{{tHtml "signin.stepUp.code" system=name}}')({ language: 'cy', name: '<img src=x onerror=alert(1)>' });
    expect(html).toContain('<strong>&lt;img src&#x3D;x onerror&#x3D;alert(1)&gt;</strong>');
    expect(html).not.toContain('<img');
  });
});
