import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { isDatabaseUnavailable, RETRY_AFTER_SECONDS } from '../db/unavailable.ts';
import { renderErrorPage, UNAVAILABLE } from '../http/errors.ts';
import { hereOf, languageOf } from '../http/language.ts';
import type { Words } from '../i18n/words.ts';
import type { ViewRenderer } from '../http/views.ts';

/** Routes a person's browser visits: a failure there is answered with a page, elsewhere in JSON. */
const BROWSER_ROUTES: ReadonlySet<string> = new Set([
  'authorization',
  'resume',
  'end_session',
  'end_session_confirm',
  'end_session_success',
]);

/**
 * oidc-provider answers any error it did not raise itself with 500 server_error. When the cause
 * is the database being unreachable (or full), say so instead: 503 with Retry-After, as an OAuth
 * error (`temporarily_unavailable`) at JSON endpoints such as /token, as a worded page at /auth.
 * The provider reports the cause only through its `server_error` event, so the event marks the
 * request and a middleware around every route rewrites the answer. Some failures never reach the
 * provider's error handler: every GET and POST route saves a touched session once more after it
 * (oidc-provider's `ensureSessionSave`, outside the handler), so that save throws past it and koa
 * would answer a bare 500. The same middleware catches those and answers the same 503.
 */
export function answerUnavailableWith503(provider: Provider, render: ViewRenderer, words: Words): void {
  const unavailable = new WeakSet<object>();
  provider.on('server_error', (ctx: KoaContextWithOIDC, error: unknown) => {
    if (isDatabaseUnavailable(error)) unavailable.add(ctx);
  });
  provider.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      if (!isDatabaseUnavailable(error)) throw error;
      unavailable.add(ctx);
    }
    if (!unavailable.has(ctx)) return;
    const wantsPage =
      (typeof ctx.body === 'string' && ctx.response.is('html')) || BROWSER_ROUTES.has((ctx as KoaContextWithOIDC).oidc?.route ?? '');
    // A redirect prepared before the failure (logout confirmed, interaction resumed) did not happen.
    ctx.remove('Location');
    ctx.status = 503;
    ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
    ctx.set('Cache-Control', 'no-store');
    if (wantsPage) {
      ctx.type = 'html';
      ctx.body = renderErrorPage(render, words, languageOf(ctx, { uiLocales: ctx.oidc?.params?.ui_locales }), UNAVAILABLE, {
        here: hereOf(ctx),
      });
    } else {
      ctx.body = { error: 'temporarily_unavailable', error_description: 'the service is temporarily unavailable; try again later' };
    }
  });
}
