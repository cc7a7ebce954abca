import Router from '@koa/router';
import type { Context } from 'koa';
import type { Account } from '../db/entities/index.ts';
import { AMR_PASSWORD_AND_CODE } from '../domain/access.ts';
import { forms } from '../http/forms.ts';
import { AUTHENTICATOR_PROMPT } from '../oidc/policy.ts';
import { BAD_FORM, pageHelpers, requestContext, type InteractionDetails, type PageDeps } from './pages.ts';
import { asBackupCodeRefusal, refusalOf } from './refusals.ts';
import { codeForm, parseForm } from './schemas.ts';
import { secondStep } from './second-step.ts';

/**
 * "Use a backup code" in the second step of a sign-in: a backup code in place of the
 * authenticator code, so it ends like one (`amr` pwd otp mfa, higher access where the membership
 * allows, the browser trusted).
 */
export function backupCodeSignInRoutes(deps: PageDeps) {
  const { services, csrf } = deps;
  const { interaction, schoolNameFor } = pageHelpers(deps);
  const { page, say, accountOf, sessionOf, contextOf, passed } = secondStep(deps);
  const router = new Router();

  const backupCodePage = async (ctx: Context, details: InteractionDetails, account: Account, error?: string, status = 200) =>
    page(ctx, 'backup-code', { ...(await contextOf(ctx, details, account)), error }, status);

  /**
   * The sign-in's account, when backup codes can stand in for its second factor. Codes are only
   * a stand-in: an account left with none (its devices and passkeys removed) is sent back to the
   * second step, which sets one up.
   */
  async function secondStepOf(ctx: Context) {
    const details = await interaction(ctx, AUTHENTICATOR_PROMPT);
    const account = await accountOf(details);
    if (await services.access.mayEnrolDuringSignIn(account.id)) {
      ctx.status = 303;
      ctx.redirect(`/interaction/${details.uid}`);
      return null;
    }
    return { details, account };
  }

  router.get('/interaction/:uid/backup-code', async (ctx) => {
    const step = await secondStepOf(ctx);
    if (step) await backupCodePage(ctx, step.details, step.account);
  });

  router.post('/interaction/:uid/backup-code', forms, csrf.verify, async (ctx) => {
    const step = await secondStepOf(ctx);
    if (!step) return;
    const { details, account } = step;
    const form = parseForm(codeForm, ctx.request.body);
    if (!form) throw BAD_FORM;
    // Nothing to check, so nothing is counted.
    if (!form.code.trim()) return backupCodePage(ctx, details, account, say(ctx, 'recovery.signIn.missing'), 400);
    const session = await sessionOf(details, account);
    const where = requestContext(ctx, details, await schoolNameFor(details));
    const check = await services.authentication.checkBackupCode(account, form.code, where);
    if (!check.ok) {
      const refusal = asBackupCodeRefusal(refusalOf(check, 'code'));
      return backupCodePage(ctx, details, account, say(ctx, refusal.words), refusal.status);
    }
    return passed(ctx, account, session, { amr: AMR_PASSWORD_AND_CODE, trustBrowser: check.trustBrowser });
  });

  return router;
}
