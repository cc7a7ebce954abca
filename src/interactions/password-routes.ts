import Router from '@koa/router';
import type { Context } from 'koa';
import { PASSWORD_MIN_LENGTH } from '../auth/password-policy.ts';
import type { RequestContext } from '../domain/audit.ts';
import { linkProblemWords, resetProblemWords } from '../domain/password-reset.ts';
import { forms } from '../http/forms.ts';
import { languageOf } from '../http/language.ts';
import { BAD_FORM, languageOfRequest, pageHelpers, requestContext, type PageDeps } from './pages.ts';
import { EMAIL_SHAPE, forgotForm, parseForm, resetForm, resetQuery } from './schemas.ts';

/** Where a password request comes from: inside a sign-in (its uid, its school) or on its own. */
type Where = { uid: string | null; schoolName?: string | undefined; action: string; backLink?: string };

/**
 * After a reset, the login page it leads back to shows the address it was for: a short-lived,
 * signed, httpOnly cookie, read (and cleared) by the login page.
 */
export const RESET_EMAIL_COOKIE = 'gatehouse.reset-email';
const RESET_EMAIL_MS = 10 * 60 * 1000;

function giveResetEmail(ctx: Context, email: string) {
  ctx.cookies.set(RESET_EMAIL_COOKIE, encodeURIComponent(email), {
    signed: true,
    httpOnly: true,
    sameSite: 'lax',
    secure: ctx.secure,
    path: '/',
    maxAge: RESET_EMAIL_MS,
    overwrite: true,
  });
}

/** The address of the reset just done in this browser (once: the cookie is cleared), or undefined. */
export function takeResetEmail(ctx: Context): string | undefined {
  const value = ctx.cookies.get(RESET_EMAIL_COOKIE, { signed: true });
  if (value === undefined) return undefined;
  ctx.cookies.set(RESET_EMAIL_COOKIE, null, {
    signed: true,
    httpOnly: true,
    sameSite: 'lax',
    secure: ctx.secure,
    path: '/',
    overwrite: true,
  });
  try {
    const email = decodeURIComponent(value);
    return email.length <= 254 ? email : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A page outside a sign-in keeps the language it was opened in: the reset link carries the
 * language of the request that asked for it (`ui_locales`), and these pages' forms and links carry
 * theirs, so a page and the one after it agree whatever the browser's own language is.
 */
const withLanguage = (ctx: Context, path: string) => `${path}?${new URLSearchParams({ ui_locales: languageOfRequest(ctx) })}`;

/** First-time access and forgotten passwords (rule 3), inside a sign-in or on their own. */
export function passwordRoutes(deps: PageDeps) {
  const { provider, services, csrf } = deps;
  const { page, say, interaction, schoolNameFor, schoolNameOfClient } = pageHelpers(deps);

  /** The school a link belongs to: its school system's, or the school whose administrator sent it. */
  const schoolNameOfLink = async (link: { clientId: string | null; schoolId: string | null }) =>
    (await schoolNameOfClient(link.clientId)) ?? (link.schoolId ? await services.schools.nameOf(link.schoolId) : undefined);
  const router = new Router();

  // Outside a sign-in, a page's language may come with its address (see withLanguage).
  router.use('/password', async (ctx, next) => {
    ctx.state.language = languageOf(ctx, { uiLocales: ctx.query.ui_locales });
    await next();
  });

  const inSignIn = async (ctx: Context): Promise<{ where: Where; from: RequestContext }> => {
    const details = await interaction(ctx);
    const schoolName = await schoolNameFor(details);
    return {
      where: { uid: details.uid, schoolName, action: `/interaction/${details.uid}/forgot`, backLink: `/interaction/${details.uid}` },
      // The link remembers the school system (its school's name on the pages it opens) and the language.
      from: requestContext(ctx, details, schoolName ?? null),
    };
  };

  const onItsOwn = (ctx: Context): { where: Where; from: RequestContext } => ({
    where: { uid: null, action: withLanguage(ctx, '/password/forgot') },
    from: requestContext(ctx),
  });

  async function requestReset(ctx: Context, { where, from }: { where: Where; from: RequestContext }) {
    const form = parseForm(forgotForm, ctx.request.body);
    if (!form) throw BAD_FORM;
    if (!EMAIL_SHAPE.test(form.email)) {
      return page(ctx, 'forgot', { ...where, email: form.email, error: say(ctx, 'password.forgot.badEmail') }, 400);
    }
    // Answer first, then look up and mail: the response time must not tell whether the address
    // has an account, and a mail outage must not either.
    services.passwordReset.requestInBackground(form.email, where.uid, from);
    page(ctx, 'forgot-sent', { ...where, email: form.email, lifetime: services.passwordReset.lifetimeMinutes });
  }

  router.get('/interaction/:uid/forgot', async (ctx) => page(ctx, 'forgot', (await inSignIn(ctx)).where));
  router.post('/interaction/:uid/forgot', forms, csrf.verify, async (ctx) => requestReset(ctx, await inSignIn(ctx)));
  router.get('/password/forgot', (ctx) => page(ctx, 'forgot', onItsOwn(ctx).where));
  router.post('/password/forgot', forms, csrf.verify, (ctx) => requestReset(ctx, onItsOwn(ctx)));

  /** The pages a link opens show the school whose login page it was asked from. */
  const linkPage = (ctx: Context, view: string, context: Record<string, unknown>, status?: number) =>
    page(
      ctx,
      view,
      { forgotLink: withLanguage(ctx, '/password/forgot'), action: withLanguage(ctx, '/password/reset'), ...context },
      status,
    );

  router.get('/password/reset', async (ctx) => {
    const { token } = resetQuery.safeParse(ctx.query).data ?? { token: '' };
    const state = await services.passwordReset.inspect(token);
    if (!state.valid) return linkPage(ctx, 'reset-invalid', { reason: say(ctx, linkProblemWords(state.reason)) }, 400);
    const schoolName = await schoolNameOfLink(state);
    linkPage(ctx, 'reset', { schoolName, token, email: state.account.email, minLength: PASSWORD_MIN_LENGTH });
  });

  router.post('/password/reset', forms, csrf.verify, async (ctx) => {
    const form = parseForm(resetForm, ctx.request.body);
    if (!form) throw BAD_FORM;
    const state = await services.passwordReset.inspect(form.token);
    const schoolName = state.valid ? await schoolNameOfLink(state) : undefined;
    // The password-changed mail comes from that school's sign-in, in this page's language.
    const where: RequestContext = { ...requestContext(ctx, undefined, schoolName ?? null) };
    if (state.valid && state.clientId) where.clientId = state.clientId;
    if (state.valid && state.schoolId) where.schoolId = state.schoolId;
    const outcome = await services.passwordReset.complete(form.token, form.password, form.confirm, where, state);
    // The language link of a page answering a post goes back to a page that can be opened.
    if (!outcome.done && outcome.field === 'token') {
      return linkPage(ctx, 'reset-invalid', { schoolName, here: '/password/forgot', reason: say(ctx, resetProblemWords(outcome)) }, 400);
    }
    if (!outcome.done) {
      const email = state.valid ? state.account.email : '';
      const errors = { [`${outcome.field}Error`]: say(ctx, resetProblemWords(outcome)) };
      const here = `/password/reset?${new URLSearchParams({ token: form.token })}`;
      return linkPage(ctx, 'reset', { schoolName, here, token: form.token, email, minLength: PASSWORD_MIN_LENGTH, ...errors }, 400);
    }
    if (state.valid) {
      await services.accounts.rememberLanguage(state.account, languageOfRequest(ctx));
      giveResetEmail(ctx, state.account.email);
    }
    // The reset signs nobody in: it only offers the way back to the login page of that sign-in.
    const stillOpen = outcome.interactionUid ? await provider.Interaction.find(outcome.interactionUid) : undefined;
    const continueLink = stillOpen ? `/interaction/${outcome.interactionUid}?reset=1` : undefined;
    page(ctx, 'reset-done', { schoolName, continueLink, here: continueLink ?? '/account' });
  });

  return router;
}
