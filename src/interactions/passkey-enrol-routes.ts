import Router from '@koa/router';
import type { Context } from 'koa';
import { forms } from '../http/forms.ts';
import { BAD_FORM, pageHelpers, type PageDeps } from './pages.ts';
import { namedPasskeyForm, optionsReply, registerPostedPasskey } from './passkey-forms.ts';
import { parseForm } from './schemas.ts';
import { secondStep } from './second-step.ts';
import { enrolmentInSignIn } from './sign-in-routes.ts';

/**
 * "Set up a passkey" inside a sign-in: the enrolment offer after a password and the step-up
 * enrolment offer it first, where the browser can make one. The same rules as the app's
 * enrolment (enrolmentInSignIn): only while the account has no second factor, after fresh proof.
 * The registration is the 'register' ceremony bound to the provider session; once the passkey is
 * stored the sign-in ends as every second step does (`passed`): higher access, amr from the
 * passkey after the password.
 */
export function passkeyEnrolRoutes(deps: PageDeps) {
  const { services, csrf } = deps;
  const { page, say } = pageHelpers(deps);
  const { passed } = secondStep(deps);
  const { firstEnrolment, confirmPage, passkeyForm } = enrolmentInSignIn(deps);
  const router = new Router();

  const passkeyPage = (ctx: Context, context: Record<string, unknown>, name?: string, errors: Record<string, string> = {}, status = 200) =>
    page(ctx, 'enrol-passkey', { ...context, ...passkeyForm(ctx, String(context.uid), name), appLink: context.action, ...errors }, status);

  router.get('/interaction/:uid/enrol/passkey', async (ctx) => {
    const { fresh, context } = await firstEnrolment(ctx);
    if (!fresh) return confirmPage(ctx, context, {}, 200, 'passkey');
    passkeyPage(ctx, context);
  });

  // Asked by the page's script: when the proof went stale meanwhile, it is sent to confirm first.
  router.post('/interaction/:uid/enrol/passkey/options', forms, csrf.verify, async (ctx) => {
    const { account, session, fresh, context } = await firstEnrolment(ctx);
    if (!fresh) return optionsReply(ctx, { confirm: context.passkeyLink }, 403);
    optionsReply(ctx, await services.passkeys.registrationOptions(account, session.sessionUid));
  });

  router.post('/interaction/:uid/enrol/passkey', forms, csrf.verify, async (ctx) => {
    const { account, session, fresh, context, where } = await firstEnrolment(ctx);
    if (!fresh) return confirmPage(ctx, context, {}, 200, 'passkey');
    const form = parseForm(namedPasskeyForm, ctx.request.body);
    if (!form) throw BAD_FORM;
    const registered = await registerPostedPasskey(services.passkeys, account, session.sessionUid, form, where);
    if (!registered.ok) return passkeyPage(ctx, context, form.name, { [`${registered.field}Error`]: say(ctx, registered.words) }, 400);
    // The passkey is the second factor after the password this sign-in began with.
    return passed(ctx, account, session, { amr: registered.amrOf({ afterPassword: true }), trustBrowser: true });
  });

  return router;
}
