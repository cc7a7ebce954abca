import Router from '@koa/router';
import type { Context } from 'koa';
import { PASSWORD_MIN_LENGTH } from '../auth/password-policy.ts';
import { forms } from '../http/forms.ts';
import { BAD_FORM, pageHelpers, requestContext, type PageDeps } from './pages.ts';
import { EMAIL_SHAPE, forgotForm, parseForm, resetForm, resetQuery } from './schemas.ts';

type Where = { uid: string | null; schoolName?: string | undefined; action: string; backLink?: string };

/** First-time access and forgotten passwords (rule 3), inside a sign-in or on their own. */
export function passwordRoutes(deps: PageDeps) {
  const { provider, services, csrf } = deps;
  const { page, interaction, schoolNameFor } = pageHelpers(deps);
  const router = new Router();

  const inSignIn = async (ctx: Context): Promise<Where> => {
    const details = await interaction(ctx);
    return {
      uid: details.uid,
      schoolName: await schoolNameFor(details),
      action: `/interaction/${details.uid}/forgot`,
      backLink: `/interaction/${details.uid}`,
    };
  };

  async function requestReset(ctx: Context, where: Where) {
    const form = parseForm(forgotForm, ctx.request.body);
    if (!form) throw BAD_FORM;
    if (!EMAIL_SHAPE.test(form.email)) {
      const error = 'Enter your email address in the right format, like name@school.org.uk.';
      return page(ctx, 'forgot', { title: 'Set your password', ...where, email: form.email, error }, 400);
    }
    // Answer first, then look up and mail: the response time must not tell whether the address
    // has an account, and a mail outage must not either.
    services.passwordReset.requestInBackground(form.email, where.uid, requestContext(ctx));
    page(ctx, 'forgot-sent', { title: 'Check your email', ...where, email: form.email, lifetime: services.passwordReset.lifetimeMinutes });
  }

  router.get('/interaction/:uid/forgot', async (ctx) => page(ctx, 'forgot', { title: 'Set your password', ...(await inSignIn(ctx)) }));
  router.post('/interaction/:uid/forgot', forms, csrf.verify, async (ctx) => requestReset(ctx, await inSignIn(ctx)));
  router.get('/password/forgot', (ctx) => page(ctx, 'forgot', { title: 'Set your password', action: '/password/forgot' }));
  router.post('/password/forgot', forms, csrf.verify, (ctx) => requestReset(ctx, { uid: null, action: '/password/forgot' }));

  router.get('/password/reset', async (ctx) => {
    const { token } = resetQuery.safeParse(ctx.query).data ?? { token: '' };
    const state = await services.passwordReset.inspect(token);
    if (!state.valid) return page(ctx, 'reset-invalid', { title: 'Link cannot be used', reason: state.reason }, 400);
    page(ctx, 'reset', { title: 'Choose your password', token, email: state.account.email, minLength: PASSWORD_MIN_LENGTH });
  });

  router.post('/password/reset', forms, csrf.verify, async (ctx) => {
    const form = parseForm(resetForm, ctx.request.body);
    if (!form) throw BAD_FORM;
    const outcome = await services.passwordReset.complete(form.token, form.password, form.confirm, requestContext(ctx));
    if (!outcome.done && outcome.field === 'token') {
      return page(ctx, 'reset-invalid', { title: 'Link cannot be used', reason: outcome.message }, 400);
    }
    if (!outcome.done) {
      const state = await services.passwordReset.inspect(form.token);
      const email = state.valid ? state.account.email : '';
      const errors = { [`${outcome.field}Error`]: outcome.message };
      return page(
        ctx,
        'reset',
        { title: 'Choose your password', token: form.token, email, minLength: PASSWORD_MIN_LENGTH, ...errors },
        400,
      );
    }
    // The reset signs nobody in: it only offers the way back to the login page of that sign-in.
    const stillOpen = outcome.interactionUid ? await provider.Interaction.find(outcome.interactionUid) : undefined;
    page(ctx, 'reset-done', {
      title: 'Password set',
      continueLink: stillOpen ? `/interaction/${outcome.interactionUid}?reset=1` : undefined,
    });
  });

  return router;
}
