import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Csrf } from '../http/csrf.ts';
import { trustedDevicesOf, type DeviceCookies } from '../http/device-cookie.ts';
import { hereOf, languageOf } from '../http/language.ts';
import { PageError } from '../http/page-error.ts';
import type { ViewRenderer } from '../http/views.ts';
import type { Language } from '../i18n/languages.ts';
import { formatTime } from '../i18n/time.ts';
import type { Message } from '../i18n/words.ts';
import type { RequestContext } from '../domain/audit.ts';
import { ACCOUNT_CLIENT_ID } from '../oidc/policy.ts';
import type { Services } from '../services.ts';
import { schoolNameOfClient as schoolNameOf } from './branding.ts';
import { uidParam } from './schemas.ts';

export type PageDeps = { provider: Provider; services: Services; render: ViewRenderer; csrf: Csrf; devices: DeviceCookies };

export const EXPIRED_SIGN_IN = new PageError(400, 'expiredSignIn');
export const BAD_FORM = new PageError(400, 'badForm');

/**
 * The language of this request's page: set by the language middleware (link, Accept-Language)
 * and, inside a sign-in, by `interaction()` (the school system's ui_locales).
 */
export const languageOfRequest = (ctx: Context): Language => (ctx.state.language as Language | undefined) ?? languageOf(ctx);

/** Where a request came from (and the accounts this browser is trusted for), for throttling, the audit trail and mails. */
export const requestContext = (ctx: Context, details?: InteractionDetails, schoolName?: string | null): RequestContext => ({
  ip: ctx.ip,
  clientId: details ? String(details.params.client_id) : undefined,
  devices: trustedDevicesOf(ctx),
  language: languageOfRequest(ctx),
  schoolName,
});

export type InteractionDetails = Awaited<ReturnType<Provider['interactionDetails']>>;
export type InteractionResult = Parameters<Provider['interactionResult']>[2];

/** Helpers every hosted page shares: rendering in the person's language with a CSRF token, the interaction, finishing it. */
export function pageHelpers({ provider, services, render, csrf }: PageDeps) {
  const page = (ctx: Context, view: string, context: Record<string, unknown>, status = 200) => {
    ctx.status = status;
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = render(view, { here: hereOf(ctx), ...context, language: languageOfRequest(ctx), csrf: csrf.tokenFor(ctx) });
  };

  /** Words for the person on this request, in their language. A Date among the values is said as a UK time. */
  const say = (ctx: Context, message: Message | string, values?: Message['values']) => {
    const language = languageOfRequest(ctx);
    const [key, given] = typeof message === 'string' ? [message, values] : [message.key, message.values];
    const said =
      given &&
      Object.fromEntries(Object.entries(given).map(([name, value]) => [name, value instanceof Date ? formatTime(value, language) : value]));
    return services.words.t(language, key, said);
  };

  /** The interaction of this browser, which must be the one in the URL. Its ui_locales sets the page's language. */
  async function interaction(ctx: Context, ...expectedPrompts: string[]): Promise<InteractionDetails> {
    const uid = uidParam.safeParse(ctx.params.uid);
    let details: InteractionDetails;
    try {
      details = await provider.interactionDetails(ctx.req, ctx.res);
    } catch {
      throw EXPIRED_SIGN_IN;
    }
    if (!uid.success || details.uid !== uid.data) throw EXPIRED_SIGN_IN;
    ctx.state.language = languageOf(ctx, { uiLocales: details.params.ui_locales, askedAt: details.iat });
    if (expectedPrompts.length > 0 && !expectedPrompts.includes(details.prompt.name)) throw EXPIRED_SIGN_IN;
    return details;
  }

  /** The school a sign-in is for: the one its school system serves (or the system's own name when it serves several). */
  async function schoolNameFor(details: InteractionDetails): Promise<string | undefined> {
    const clientId = String(details.params.client_id);
    // Account settings reached from a school's system signs in under that school's name (src/account/routes.ts).
    const from = details.params.school_client;
    if (clientId === ACCOUNT_CLIENT_ID && typeof from === 'string') return schoolNameOfClient(from);
    return schoolNameOfClient(clientId);
  }

  const schoolNameOfClient = (clientId: unknown) => schoolNameOf(services.access, clientId);

  /** The name of the school system a sign-in came from (its client name), else its school's. */
  async function systemNameFor(details: InteractionDetails): Promise<string | undefined> {
    const clientId = String(details.params.client_id);
    if (clientId === ACCOUNT_CLIENT_ID) return undefined;
    // Quoted as the system's own name ("<name> asked for higher access"), never as the page's brand.
    const client = await provider.Client.find(clientId);
    return client?.clientName ?? (await schoolNameOfClient(clientId));
  }

  async function finish(ctx: Context, result: InteractionResult) {
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(returnTo);
  }

  return { page, say, interaction, schoolNameFor, schoolNameOfClient, systemNameFor, finish };
}
