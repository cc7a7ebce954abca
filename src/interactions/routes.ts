import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { ACR_BASIC } from '../domain/access.ts';
import type { Csrf } from '../http/csrf.ts';
import { PageError } from '../http/page-error.ts';
import type { ViewRenderer } from '../http/views.ts';
import { SCHOOL_ACCESS_PROMPT } from '../oidc/policy.ts';
import type { Services } from '../services.ts';
import { EMAIL_SHAPE, forgotForm, loginForm, parseForm, resetForm, resetQuery, uidParam } from './schemas.ts';

const WRONG_CREDENTIALS = 'The email address or password is not right. Check them and try again.';
const LOCKED = 'This account is locked. Ask your school’s IT helpdesk to unlock it.';
const EXPIRED_SIGN_IN = new PageError(
  400,
  'This sign-in has expired',
  'Go back to your school system and start signing in again.',
);
const BAD_FORM = new PageError(400, 'We could not read that form', 'Go back, reload the page and try again.');

type Deps = { provider: Provider; services: Services; render: ViewRenderer; csrf: Csrf };

export function interactionRoutes({ provider, services, render, csrf }: Deps) {
  const router = new Router();
  const forms = bodyParser({ enableTypes: ['form'], formLimit: '16kb', encoding: 'utf-8' });

  const page = (ctx: Context, view: string, context: Record<string, unknown>, status = 200) => {
    ctx.status = status;
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = render(view, { ...context, csrf: csrf.tokenFor(ctx) });
  };

  async function interaction(ctx: Context) {
    const uid = uidParam.safeParse(ctx.params.uid);
    try {
      const details = await provider.interactionDetails(ctx.req, ctx.res);
      if (!uid.success || details.uid !== uid.data) throw EXPIRED_SIGN_IN;
      return details;
    } catch (error) {
      if (error instanceof PageError) throw error;
      throw EXPIRED_SIGN_IN;
    }
  }

  async function schoolNameFor(clientId: string): Promise<string | undefined> {
    const [schools, client] = await Promise.all([
      services.access.clientSchoolsName(clientId),
      provider.Client.find(clientId),
    ]);
    return schools ?? client?.clientName ?? undefined;
  }

  async function finish(ctx: Context, result: Parameters<Provider['interactionResult']>[2]) {
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(returnTo);
  }

  router.get('/interaction/:uid', async (ctx) => {
    const details = await interaction(ctx);
    const clientId = String(details.params.client_id);
    const schoolName = await schoolNameFor(clientId);
    switch (details.prompt.name) {
      case 'login':
        return page(ctx, 'login', {
          title: 'Log in',
          uid: details.uid,
          schoolName,
          email: typeof details.params.login_hint === 'string' ? details.params.login_hint.slice(0, 254) : '',
          notice: ctx.query.reset === '1' ? 'Your password has been set. Log in with your new password.' : undefined,
        });
      case SCHOOL_ACCESS_PROMPT:
        return page(ctx, 'access-denied', { title: 'No access', uid: details.uid, schoolName: schoolName ?? 'this school system' }, 403);
      case 'consent':
        return finish(ctx, { consent: { grantId: await approveConsent(provider, details) } });
      default:
        throw new PageError(400, 'This sign-in cannot continue', 'Go back to your school system and start again.');
    }
  });

  router.post('/interaction/:uid/login', forms, csrf.verify, async (ctx) => {
    const details = await interaction(ctx);
    if (details.prompt.name !== 'login') throw EXPIRED_SIGN_IN;
    const form = parseForm(loginForm, ctx.request.body);
    if (!form) throw BAD_FORM;
    const schoolName = await schoolNameFor(String(details.params.client_id));
    const check = form.email && form.password ? await services.authentication.checkPassword(form.email, form.password) : undefined;
    if (!check?.ok) {
      const error = check?.reason === 'locked' ? LOCKED : WRONG_CREDENTIALS;
      return page(ctx, 'login', { title: 'Log in', uid: details.uid, schoolName, email: form.email, error }, check?.reason === 'locked' ? 423 : 401);
    }
    return finish(ctx, { login: { accountId: check.account.id, acr: ACR_BASIC, amr: ['pwd'], remember: true } });
  });

  router.post('/interaction/:uid/abort', forms, csrf.verify, async (ctx) => {
    const details = await interaction(ctx);
    const schoolName = await schoolNameFor(String(details.params.client_id));
    return finish(ctx, {
      error: 'access_denied',
      error_description: `The account does not have access to ${schoolName ?? 'this school system'}.`,
    });
  });

  router.get('/interaction/:uid/forgot', async (ctx) => {
    const details = await interaction(ctx);
    const schoolName = await schoolNameFor(String(details.params.client_id));
    page(ctx, 'forgot', { title: 'Set your password', schoolName, action: `/interaction/${details.uid}/forgot`, backLink: `/interaction/${details.uid}` });
  });

  router.post('/interaction/:uid/forgot', forms, csrf.verify, async (ctx) => {
    const details = await interaction(ctx);
    const schoolName = await schoolNameFor(String(details.params.client_id));
    await requestReset(ctx, { uid: details.uid, schoolName, action: `/interaction/${details.uid}/forgot`, backLink: `/interaction/${details.uid}` });
  });

  router.get('/password/forgot', (ctx) => page(ctx, 'forgot', { title: 'Set your password', action: '/password/forgot' }));

  router.post('/password/forgot', forms, csrf.verify, (ctx) => requestReset(ctx, { uid: null, action: '/password/forgot' }));

  async function requestReset(ctx: Context, where: { uid: string | null; schoolName?: string | undefined; action: string; backLink?: string }) {
    const form = parseForm(forgotForm, ctx.request.body);
    if (!form) throw BAD_FORM;
    if (!EMAIL_SHAPE.test(form.email)) {
      const error = 'Enter your email address in the right format, like name@school.org.uk.';
      return page(ctx, 'forgot', { title: 'Set your password', ...where, email: form.email, error }, 400);
    }
    await services.passwordReset.request(form.email, where.uid);
    page(ctx, 'forgot-sent', { title: 'Check your email', ...where, email: form.email, lifetime: services.passwordReset.lifetimeMinutes });
  }

  router.get('/password/reset', async (ctx) => {
    const { token } = resetQuery.safeParse(ctx.query).data ?? { token: '' };
    const state = await services.passwordReset.inspect(token);
    if (!state.valid) return page(ctx, 'reset-invalid', { title: 'Link cannot be used', reason: state.reason }, 400);
    page(ctx, 'reset', { title: 'Choose your password', token, email: state.account.email, minLength: 15 });
  });

  router.post('/password/reset', forms, csrf.verify, async (ctx) => {
    const form = parseForm(resetForm, ctx.request.body);
    if (!form) throw BAD_FORM;
    const outcome = await services.passwordReset.complete(form.token, form.password, form.confirm);
    if (!outcome.done && outcome.field === 'token') {
      return page(ctx, 'reset-invalid', { title: 'Link cannot be used', reason: outcome.message }, 400);
    }
    if (!outcome.done) {
      const state = await services.passwordReset.inspect(form.token);
      return page(ctx, 'reset', {
        title: 'Choose your password',
        token: form.token,
        email: state.valid ? state.account.email : '',
        minLength: 15,
        [`${outcome.field}Error`]: outcome.message,
      }, 400);
    }
    const stillOpen = outcome.interactionUid ? await provider.Interaction.find(outcome.interactionUid) : undefined;
    page(ctx, 'reset-done', {
      title: 'Password set',
      continueLink: stillOpen ? `/interaction/${outcome.interactionUid}?reset=1` : undefined,
    });
  });

  return router;
}

/** Every client is a school system registered by the helpdesk: first-party, so no consent screen. */
async function approveConsent(provider: Provider, details: Awaited<ReturnType<Provider['interactionDetails']>>) {
  const accountId = details.session!.accountId;
  const clientId = String(details.params.client_id);
  const grant = details.grantId
    ? (await provider.Grant.find(details.grantId)) ?? new provider.Grant({ accountId, clientId })
    : new provider.Grant({ accountId, clientId });
  const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  grant.addOIDCScope(String(details.params.scope ?? 'openid'));
  return grant.save();
}
