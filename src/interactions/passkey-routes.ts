import Router from '@koa/router';
import type { Context } from 'koa';
import { PASSKEY_THROTTLE } from '../auth/throttle.ts';
import { ACR_HIGHER, bothFactorsAtOnce, loginTsFor } from '../domain/access.ts';
import type { PasskeyCheck } from '../domain/passkeys.ts';
import { forms } from '../http/forms.ts';
import type { Message } from '../i18n/words.ts';
import { AUTHENTICATOR_PROMPT } from '../oidc/policy.ts';
import { BAD_FORM, languageOfRequest, pageHelpers, requestContext, type InteractionDetails, type PageDeps } from './pages.ts';
import { assertionOf, optionsReply, passkeyForm } from './passkey-forms.ts';
import { parseForm } from './schemas.ts';
import { secondStep } from './second-step.ts';

/**
 * What a refused passkey tells the person, and with which status (a locked account is said as for
 * a password; a paused ceremony points to the password, which its pause does not touch).
 */
function passkeyRefusal(
  check: Extract<PasskeyCheck, { ok: false }> | undefined,
  at: 'signIn' | 'secondStep',
): { words: Message; status: number } {
  if (check?.reason === 'locked') return { words: { key: 'signin.refusal.locked' }, status: 423 };
  if (check?.reason === 'throttled') {
    return { words: { key: `passkeys.paused.${at}`, values: { minutes: PASSKEY_THROTTLE.pauseSeconds / 60 } }, status: 429 };
  }
  return { words: { key: `signin.passkey.${at}.refused` }, status: check ? 403 : 400 };
}

/** "Sign in with a passkey" on the login page, and a passkey as the second step after a password. */
export function passkeySignInRoutes(deps: PageDeps) {
  const { services, csrf, devices } = deps;
  const { page, say, interaction, schoolNameFor, finish } = pageHelpers(deps);
  const { accountOf, sessionOf, passed, codePage } = secondStep(deps);
  const router = new Router();

  /** The login page again, with what went wrong with the passkey and what to do instead. */
  const loginPage = async (ctx: Context, details: InteractionDetails, words: Message, status: number, remember: boolean) =>
    page(
      ctx,
      'login',
      { uid: details.uid, schoolName: await schoolNameFor(details), email: '', remember, passkeyError: say(ctx, words) },
      status,
    );

  // A discoverable credential: no account is known yet, the passkey says whose it is.
  router.post('/interaction/:uid/passkey/options', forms, csrf.verify, async (ctx) => {
    const details = await interaction(ctx, 'login');
    optionsReply(ctx, await services.passkeys.authenticationOptions({ purpose: 'sign_in', binding: details.uid }));
  });

  router.post('/interaction/:uid/passkey', forms, csrf.verify, async (ctx) => {
    const details = await interaction(ctx, 'login');
    const form = parseForm(passkeyForm, ctx.request.body);
    if (!form) throw BAD_FORM;
    const response = assertionOf(form.response);
    if (!response) return loginPage(ctx, details, passkeyRefusal(undefined, 'signIn').words, 400, form.remember);
    const startedAt = Date.now();
    const where = requestContext(ctx, details, await schoolNameFor(details));
    const check = await services.passkeys.verify({ purpose: 'sign_in', binding: details.uid }, response, where, { afterPassword: false });
    // ACR_HIGHER below says both factors were proved here, with no password: only a passkey with
    // user verification does that. The service requires it at a sign-in today; this holds if not.
    if (!check.ok || !bothFactorsAtOnce(check.amr)) {
      const refusal = passkeyRefusal(check.ok ? { ok: false, reason: 'invalid' } : check, 'signIn');
      return loginPage(ctx, details, refusal.words, refusal.status, form.remember);
    }
    await services.accounts.rememberLanguage(check.account, languageOfRequest(ctx));
    // A passkey with user verification is both factors at once: the sign-in is complete, so no
    // code page follows and the browser is trusted, as after a password and a code.
    const ts = loginTsFor(check.account, startedAt);
    devices.trust(ctx, check.account.id, ts);
    return finish(ctx, { login: { accountId: check.account.id, acr: ACR_HIGHER, amr: check.amr, remember: form.remember, ts } });
  });

  // The account is known from the password: only its own passkeys are offered.
  router.post('/interaction/:uid/passkey/second-step/options', forms, csrf.verify, async (ctx) => {
    const details = await interaction(ctx, AUTHENTICATOR_PROMPT);
    const account = await accountOf(details);
    optionsReply(ctx, await services.passkeys.authenticationOptions({ purpose: 'second_step', binding: details.uid }, account));
  });

  router.post('/interaction/:uid/passkey/second-step', forms, csrf.verify, async (ctx) => {
    const details = await interaction(ctx, AUTHENTICATOR_PROMPT);
    const account = await accountOf(details);
    const form = parseForm(passkeyForm, ctx.request.body);
    if (!form) throw BAD_FORM;
    const session = await sessionOf(details, account);
    const response = assertionOf(form.response);
    const check = response
      ? await services.passkeys.verify(
          { purpose: 'second_step', binding: details.uid },
          response,
          requestContext(ctx, details, await schoolNameFor(details)),
          { account, afterPassword: true },
        )
      : undefined;
    if (!check?.ok) {
      const refusal = passkeyRefusal(check, 'secondStep');
      return codePage(ctx, details, { passkeyError: say(ctx, refusal.words) }, refusal.status);
    }
    return passed(ctx, account, session, { amr: check.amr, trustBrowser: true });
  });

  return router;
}
