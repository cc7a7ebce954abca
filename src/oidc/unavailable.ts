import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { isDatabaseUnavailable, RETRY_AFTER_SECONDS } from '../db/unavailable.ts';
import { UNAVAILABLE } from '../http/errors.ts';
import type { ViewRenderer } from '../http/views.ts';

/**
 * oidc-provider answers any error it did not raise itself with 500 server_error. When the cause
 * is the database being unreachable (or full), say so instead: 503 with Retry-After, as an OAuth
 * error (`temporarily_unavailable`) at JSON endpoints such as /token, as a worded page at /auth.
 * The provider reports the cause only through its `server_error` event, so the event marks the
 * request and a middleware around every route rewrites the answer.
 */
export function answerUnavailableWith503(provider: Provider, render: ViewRenderer): void {
  const unavailable = new WeakSet<object>();
  provider.on('server_error', (ctx: KoaContextWithOIDC, error: unknown) => {
    if (isDatabaseUnavailable(error)) unavailable.add(ctx);
  });
  provider.use(async (ctx, next) => {
    await next();
    if (!unavailable.has(ctx)) return;
    const wantsPage = typeof ctx.body === 'string' && ctx.response.is('html');
    ctx.status = 503;
    ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
    ctx.set('Cache-Control', 'no-store');
    if (wantsPage) {
      ctx.type = 'html';
      ctx.body = render('error', { title: UNAVAILABLE.heading, heading: UNAVAILABLE.heading, message: UNAVAILABLE.detail });
    } else {
      ctx.body = { error: 'temporarily_unavailable', error_description: 'the service is temporarily unavailable; try again later' };
    }
  });
}
