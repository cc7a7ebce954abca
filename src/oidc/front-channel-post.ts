import Router from '@koa/router';
import type { Context } from 'koa';
import { formsUpTo } from '../http/forms.ts';
import { languageOf } from '../http/language.ts';
import { PageError } from '../http/page-error.ts';
import type { ViewRenderer } from '../http/views.ts';

/**
 * OIDC Core §3.1.2.1 and RP-Initiated Logout §2: the authorization and logout endpoints take a
 * form POST as well as GET. oidc-provider's own POST support needs the session cookie to be
 * SameSite=None; ours stays Lax, so a POST from another site arrives without it. Such a POST is
 * sent on once from a page of ours (same-site, so the browser adds the cookie: single sign-on and
 * logout find the session), and a POST that carries the cookie is handed to the provider as the
 * GET it is equivalent to. The parameters never enter a URL the browser shows or logs.
 */
export const FRONT_CHANNEL_PATHS = ['/auth', '/session/end'] as const;

/**
 * Marks the relayed POST for a browser that sends no Sec-Fetch-Site. Forging it only means the
 * request goes to the provider without the relay, carrying the cookies the browser chose to send.
 */
export const RELAY_MARKER = 'gatehouse_relayed';

/** A request object or a long `claims` parameter can be several kB; a hosted page's form is 16 kB at most. */
const MAX_BYTES = 64 * 1024;
/** The relayed POST is the first one plus `&gatehouse_relayed=1`. */
const parseForm = formsUpTo(`${MAX_BYTES + `&${RELAY_MARKER}=1`.length}b`);

/**
 * koa's query parser (which oidc-provider reads parameters through) takes time growing with the
 * square of the number of parameters: 30,000 in a 64 kB body held the process for 20 s. No
 * authorization or logout request needs more than a few dozen.
 */
const MAX_PARAMETERS = 100;

/** Refuses, in words, what no relying party sends and would cost the process dearly. */
function refuseUnreasonable(params: URLSearchParams): void {
  if (params.size > MAX_PARAMETERS) {
    throw new PageError(400, 'badSignInRequest');
  }
}

export function frontChannelPostRoutes(deps: { render: ViewRenderer; issuer: string; toProvider: (ctx: Context) => Promise<void> }) {
  const router = new Router();
  for (const path of FRONT_CHANNEL_PATHS) {
    router.get(path, (ctx, next) => {
      refuseUnreasonable(new URLSearchParams(ctx.querystring));
      return next();
    });
    router.post(path, parseForm, async (ctx) => {
      // A body that is not a form (JSON, multipart, text) has no parameters to carry; `null` is no
      // body at all, which a logout may be.
      if (ctx.request.is('application/x-www-form-urlencoded') === false) throw new PageError(415, 'unreadable');
      const body = (ctx.request as { rawBody?: string }).rawBody ?? '';
      const params = new URLSearchParams(body);
      refuseUnreasonable(params);
      if (cameFromAnotherSite(ctx, params)) {
        // Relayed once already and still from another site (a page with an opaque origin): no loop.
        if (params.has(RELAY_MARKER)) throw new PageError(400, 'badSignInRequest');
        if (body.length > MAX_BYTES) throw new PageError(413, 'unreadable');
        relayPage(ctx, deps.render, `${deps.issuer}${path}`, params);
        return;
      }
      params.delete(RELAY_MARKER);
      ctx.req.method = 'GET';
      ctx.req.url = params.size > 0 ? `${path}?${params}` : path;
      await deps.toProvider(ctx);
    });
  }
  return router;
}

/** Browsers say where a request came from (Fetch Metadata); one that does not is relayed unless it is the relay. */
function cameFromAnotherSite(ctx: Context, params: URLSearchParams): boolean {
  const site = ctx.get('Sec-Fetch-Site');
  return site ? site === 'cross-site' : !params.has(RELAY_MARKER);
}

function relayPage(ctx: Context, render: ViewRenderer, action: string, params: URLSearchParams): void {
  params.delete(RELAY_MARKER);
  params.append(RELAY_MARKER, '1');
  ctx.status = 200;
  ctx.type = 'html';
  // The parameters may name the person (login_hint): never kept by a cache.
  ctx.set('Cache-Control', 'no-store');
  ctx.body = render('relay', {
    language: languageOf(ctx, { uiLocales: params.get('ui_locales') ?? undefined }),
    action,
    fields: [...params.entries()],
  });
}
