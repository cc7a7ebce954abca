import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Csrf } from '../http/csrf.ts';
import { trustedDevicesOf, type DeviceCookies } from '../http/device-cookie.ts';
import { PageError } from '../http/page-error.ts';
import type { ViewRenderer } from '../http/views.ts';
import type { RequestContext } from '../domain/audit.ts';
import type { Services } from '../services.ts';
import { uidParam } from './schemas.ts';

export type PageDeps = { provider: Provider; services: Services; render: ViewRenderer; csrf: Csrf; devices: DeviceCookies };

export const EXPIRED_SIGN_IN = new PageError(400, 'This sign-in has expired', 'Go back to your school system and start signing in again.');
export const BAD_FORM = new PageError(400, 'We could not read that form', 'Go back, reload the page and try again.');

/** Where a request came from (and the accounts this browser is trusted for), for throttling and the audit trail. */
export const requestContext = (ctx: Context, details?: InteractionDetails): RequestContext => ({
  ip: ctx.ip,
  clientId: details ? String(details.params.client_id) : undefined,
  devices: trustedDevicesOf(ctx),
});

export type InteractionDetails = Awaited<ReturnType<Provider['interactionDetails']>>;
export type InteractionResult = Parameters<Provider['interactionResult']>[2];

/** Helpers every hosted page shares: rendering with a CSRF token, the interaction, finishing it. */
export function pageHelpers({ provider, services, render, csrf }: PageDeps) {
  const page = (ctx: Context, view: string, context: Record<string, unknown>, status = 200) => {
    ctx.status = status;
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = render(view, { ...context, csrf: csrf.tokenFor(ctx) });
  };

  /** The interaction of this browser, which must be the one in the URL. */
  async function interaction(ctx: Context, ...expectedPrompts: string[]): Promise<InteractionDetails> {
    const uid = uidParam.safeParse(ctx.params.uid);
    let details: InteractionDetails;
    try {
      details = await provider.interactionDetails(ctx.req, ctx.res);
    } catch {
      throw EXPIRED_SIGN_IN;
    }
    if (!uid.success || details.uid !== uid.data) throw EXPIRED_SIGN_IN;
    if (expectedPrompts.length > 0 && !expectedPrompts.includes(details.prompt.name)) throw EXPIRED_SIGN_IN;
    return details;
  }

  async function schoolNameFor(details: InteractionDetails): Promise<string | undefined> {
    const clientId = String(details.params.client_id);
    const [schools, client] = await Promise.all([services.access.clientSchoolsName(clientId), provider.Client.find(clientId)]);
    return schools ?? client?.clientName ?? undefined;
  }

  async function finish(ctx: Context, result: InteractionResult) {
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(returnTo);
  }

  return { page, interaction, schoolNameFor, finish };
}
