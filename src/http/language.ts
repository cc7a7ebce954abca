import Router from '@koa/router';
import type { Context } from 'koa';
import { PageError } from './page-error.ts';
import { DEFAULT_LANGUAGE, isLanguage, LANGUAGES, languageOfTags, type Language } from '../i18n/languages.ts';

export const LANGUAGE_COOKIE = 'gatehouse.lang';
const A_YEAR_MS = 365 * 24 * 3600 * 1000;

/** What a request says about language; koa's and oidc-provider's contexts both have these. */
type Asking = Pick<Context, 'cookies' | 'acceptsLanguages'>;

/** The choice made with the language link: the language and when (seconds), as `cy.1764150000`. */
export function chosenLanguage(ctx: Pick<Context, 'cookies'>): { language: Language; at: number } | undefined {
  const [language, at] = (ctx.cookies.get(LANGUAGE_COOKIE) ?? '').split('.');
  return isLanguage(language) && /^\d{1,12}$/.test(at ?? '') ? { language, at: Number(at) } : undefined;
}

/**
 * The language of a page (DESIGN.md): the school system's `ui_locales`, then the language link's
 * choice, then `Accept-Language`, then English. A choice made with the link after the request
 * carrying `ui_locales` began (`askedAt`, seconds) is the later word, and wins for the rest of it.
 */
export function languageOf(ctx: Asking, request: { uiLocales?: unknown; askedAt?: number } = {}): Language {
  const asked = languageOfTags(request.uiLocales);
  const chosen = chosenLanguage(ctx);
  if (asked && !(chosen && request.askedAt !== undefined && chosen.at >= request.askedAt)) return asked;
  if (chosen) return chosen.language;
  const accepted = ctx.acceptsLanguages([...LANGUAGES]);
  return isLanguage(accepted) ? accepted : DEFAULT_LANGUAGE;
}

/** Only a path on this site: never `//host` or `/\host`, which browsers treat as another origin. */
export function localPath(value: unknown, fallback: string): string {
  return typeof value === 'string' && /^\/(?![/\\])[^\s]*$/.test(value) && value.length <= 2000 ? value : fallback;
}

/** The link every page offers to the other language, back to the same page. */
export function languageSwitch(current: Language, here: string): { href: string; language: Language } {
  const other = current === 'cy' ? 'en' : 'cy';
  return { href: `/language/${other}?${new URLSearchParams({ next: here })}`, language: other };
}

/** Where the link returns to: this page, without `ui_locales` (which would otherwise win again). */
export function hereOf(ctx: Pick<Context, 'method' | 'path' | 'querystring'>): string {
  if (ctx.method !== 'GET') return ctx.path;
  const query = new URLSearchParams(ctx.querystring);
  query.delete('ui_locales');
  const search = query.toString();
  return search ? `${ctx.path}?${search}` : ctx.path;
}

/** `GET /language/:language?next=/path`: remember the choice for a year and go back. */
/**
 * Unsigned on purpose: the value is only a language and a time, and oidc-provider's pages (which
 * sign with other keys) read it too. With an https ISSUER the cookie is Secure even when a proxy
 * forwards plain http without TRUST_PROXY (koa would otherwise refuse to set it: a 500).
 */
function rememberChoice(ctx: Context, value: string, secure: boolean): void {
  const attributes = { httpOnly: true, sameSite: 'lax', path: '/', maxAge: A_YEAR_MS, overwrite: true, signed: false } as const;
  const seen = ctx.cookies.secure;
  if (secure) ctx.cookies.secure = true;
  try {
    ctx.cookies.set(LANGUAGE_COOKIE, value, { ...attributes, secure });
  } finally {
    ctx.cookies.secure = seen;
  }
}

/**
 * `GET /language/:language?next=/path`: remember the choice for a year and go back. It changes
 * nothing stored (a cross-site link could follow it): a signed-in person's account takes the
 * language on their next Account settings page.
 */
export function languageRoutes(options: { secure: boolean }) {
  const router = new Router();
  router.get('/language/:language', async (ctx) => {
    const { language } = ctx.params;
    if (!isLanguage(language)) throw new PageError(404, 'notFound');
    rememberChoice(ctx, `${language}.${Math.floor(Date.now() / 1000)}`, options.secure);
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(localPath(ctx.query.next, '/account'));
  });
  return router;
}
