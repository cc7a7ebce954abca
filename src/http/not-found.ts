import type { Context, Next } from 'koa';
import type { Words } from '../i18n/words.ts';
import { renderErrorPage, type ErrorWords } from './errors.ts';
import { hereOf, languageOf } from './language.ts';
import type { ViewRenderer } from './views.ts';

const NOT_FOUND: ErrorWords = { status: 404, key: 'notFound' };

/**
 * The hosted 404: an address nothing answers (oidc-provider leaves those as a bare 404) gets a
 * page in the person's language when a browser asked for one. Machines (JSON, or no HTML in
 * Accept) keep the plain 404. The status stays 404.
 */
export function hostedNotFound(render: ViewRenderer, words: Words) {
  return async (ctx: Context, next: Next) => {
    await next();
    if (ctx.status !== 404 || ctx.body !== undefined || !wantsPage(ctx)) return;
    ctx.status = 404;
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = renderErrorPage(render, words, languageOf(ctx), NOT_FOUND, { here: hereOf(ctx) });
  };
}

/** A browser's Accept puts HTML before JSON; no Accept, `*\/*` or `application/json` is a machine. */
const wantsPage = (ctx: Context) => Boolean(ctx.get('Accept')) && ctx.accepts('json', 'html') === 'html';
