import Router from '@koa/router';
import type { Context } from 'koa';
import { showEnrolment, submitEnrolment } from '../account/enrolment-page.ts';
import { loginTsFor, ACR_BASIC, ACR_HIGHER, AMR_PASSWORD, AMR_PASSWORD_AND_CODE } from '../domain/access.ts';
import { forms } from '../http/forms.ts';
import { PageError } from '../http/page-error.ts';
import { AUTHENTICATOR_PROMPT, ENROL_OFFER_PROMPT, SCHOOL_ACCESS_PROMPT, SCHOOL_CHOICE_PROMPT } from '../oidc/policy.ts';
import { approveConsent } from './consent.ts';
import {
  BAD_FORM,
  EXPIRED_SIGN_IN,
  languageOfRequest,
  pageHelpers,
  requestContext,
  type InteractionDetails,
  type PageDeps,
} from './pages.ts';
import { manageAccountLink } from './branding.ts';
import { takeResetEmail } from './password-routes.ts';
import { confirmationRefusal, refusalOf } from './refusals.ts';
import { secondStep } from './second-step.ts';
import { codeForm, confirmForm, loginForm, parseForm, schoolForm, uidParam } from './schemas.ts';

/** The pages of a sign-in: password, authenticator code, no-access, the enrolment offer. */
export function signInRoutes(deps: PageDeps) {
  const { provider, services, csrf, devices } = deps;
  const { page, say, interaction, schoolNameFor, finish } = pageHelpers(deps);
  const router = new Router();

  const { accountOf, sessionOf, passed, codePage: secondStepPage } = secondStep(deps);
  const { firstEnrolment, confirmPage, passkeyForm } = enrolmentInSignIn(deps);

  /** The second step's page: the code, and the other ways the account has (backup codes, passkeys). */
  const codePage = (ctx: Context, details: InteractionDetails, error?: string, status = 200) =>
    secondStepPage(ctx, details, { error }, status);

  /** The login page; a refused password also offers the way to Account settings. */
  const loginPage = async (
    ctx: Context,
    details: InteractionDetails,
    form: { email: string; remember?: boolean; error?: string; refused?: boolean; notice?: string },
    status = 200,
  ) =>
    page(
      ctx,
      'login',
      {
        uid: details.uid,
        schoolName: await schoolNameFor(details),
        ...form,
        manageAccount: form.refused ? manageAccountLink(details.params.client_id) : undefined,
      },
      status,
    );

  router.get('/interaction/:uid', async (ctx) => {
    const details = await interaction(ctx);
    const schoolName = await schoolNameFor(details);
    const base = { uid: details.uid, schoolName };
    switch (details.prompt.name) {
      case 'login': {
        // After a reset, the address it was for (a short-lived signed cookie), unless the system sent a hint.
        const resetEmail = takeResetEmail(ctx);
        const hint = typeof details.params.login_hint === 'string' ? details.params.login_hint.slice(0, 254) : '';
        return loginPage(ctx, details, {
          email: hint || resetEmail || '',
          notice: ctx.query.reset === '1' ? say(ctx, 'signin.login.passwordSet') : undefined,
        });
      }
      case AUTHENTICATOR_PROMPT:
        // Higher access asked for, and no device yet: set one up now (rule 6).
        if (await services.access.mayEnrolDuringSignIn((await accountOf(details)).id)) {
          return ctx.redirect(`/interaction/${details.uid}/enrol`);
        }
        return codePage(ctx, details);
      case SCHOOL_ACCESS_PROMPT:
        return page(
          ctx,
          'access-denied',
          {
            ...base,
            school: schoolName ?? say(ctx, 'signin.accessDenied.thisSystem'),
            manageAccount: manageAccountLink(details.params.client_id),
          },
          403,
        );
      case SCHOOL_CHOICE_PROMPT: {
        const memberships = await services.access.membershipsForClient((await accountOf(details)).id, String(details.params.client_id));
        return page(ctx, 'choose-school', { ...base, schools: memberships.map((m) => m.school) });
      }
      case ENROL_OFFER_PROMPT:
        // A passkey first, where the browser can make one (enrol-offer.hbs); the app for everyone.
        return page(ctx, 'enrol-offer', { ...base, ...passkeyForm(ctx, details.uid) });
      case 'consent':
        return finish(ctx, { consent: { grantId: await approveConsent(provider, details) } });
      default:
        throw new PageError(400, 'cannotContinue');
    }
  });

  router.post('/interaction/:uid/login', forms, csrf.verify, async (ctx) => {
    const details = await interaction(ctx, 'login');
    const form = parseForm(loginForm, ctx.request.body);
    if (!form) throw BAD_FORM;
    if (!form.email || !form.password) {
      // Nothing to check, so nothing is counted: just ask for what is missing.
      return loginPage(ctx, details, { email: form.email, remember: form.remember, error: say(ctx, 'signin.login.missing') }, 400);
    }
    const startedAt = Date.now();
    const check = await services.authentication.checkPassword(
      form.email,
      form.password,
      // The school's name: a guessing warning this attempt sets off comes from that school.
      requestContext(ctx, details, await schoolNameFor(details)),
    );
    if (!check.ok) {
      const refusal = refusalOf(check);
      return loginPage(
        ctx,
        details,
        { email: form.email, remember: form.remember, error: say(ctx, refusal.words), refused: true },
        refusal.status,
      );
    }
    // Their mails follow the language they sign in with.
    await services.accounts.rememberLanguage(check.account, languageOfRequest(ctx));
    // Password only, so far: if the account has a device, the authenticator prompt comes next.
    // Unless the person asked to be remembered, the session cookie ends with the browser session
    // (later steps pass remember: true, which oidc-provider reads as "leave it as it is").
    // Signed in when the password was checked, but never inside the second the account's sessions
    // were ended: a sign-in straight after a password reset holds, one from before it does not.
    const ts = loginTsFor(check.account, startedAt);
    if (check.trustBrowser) devices.trust(ctx, check.account.id, ts);
    return finish(ctx, { login: { accountId: check.account.id, acr: ACR_BASIC, amr: AMR_PASSWORD, remember: form.remember, ts } });
  });

  router.post('/interaction/:uid/code', forms, csrf.verify, async (ctx) => {
    const details = await interaction(ctx, AUTHENTICATOR_PROMPT);
    const account = await accountOf(details);
    const form = parseForm(codeForm, ctx.request.body);
    if (!form) throw BAD_FORM;
    if (!form.code.trim()) return codePage(ctx, details, say(ctx, 'signin.refusal.missingCode'), 400);
    const session = await sessionOf(details, account);
    const check = await services.authentication.checkCode(account, form.code, requestContext(ctx, details, await schoolNameFor(details)));
    if (!check.ok) {
      const refusal = refusalOf(check, 'code');
      return codePage(ctx, details, say(ctx, refusal.words), refusal.status);
    }
    return passed(ctx, account, session, { amr: AMR_PASSWORD_AND_CODE, deviceId: check.deviceId, trustBrowser: check.trustBrowser });
  });

  router.post('/interaction/:uid/abort', forms, csrf.verify, async (ctx) => {
    const details = await interaction(ctx, SCHOOL_ACCESS_PROMPT);
    const schoolName = await schoolNameFor(details);
    return finish(ctx, {
      error: 'access_denied',
      error_description: `The account does not have access to ${schoolName ?? 'this school system'}.`,
    });
  });

  router.post('/interaction/:uid/school', forms, csrf.verify, async (ctx) => {
    const details = await interaction(ctx, SCHOOL_CHOICE_PROMPT);
    const form = parseForm(schoolForm, ctx.request.body);
    if (!form) throw BAD_FORM;
    const account = await accountOf(details);
    const memberships = await services.access.membershipsForClient(account.id, String(details.params.client_id));
    if (!memberships.some((m) => m.school.id === form.school)) {
      return page(
        ctx,
        'choose-school',
        {
          uid: details.uid,
          schoolName: await schoolNameFor(details),
          schools: memberships.map((m) => m.school),
          error: say(ctx, 'signin.chooseSchool.chooseOne'),
        },
        400,
      );
    }
    // Recorded against the grant when the authorization resumes (see loadExistingGrant).
    return finish(ctx, { school: { id: form.school } });
  });

  router.post('/interaction/:uid/decline', forms, csrf.verify, async (ctx) => {
    await interaction(ctx, AUTHENTICATOR_PROMPT);
    return finish(ctx, { error: 'access_denied', error_description: 'Higher access needs an authenticator, and none was set up.' });
  });

  router.post('/interaction/:uid/continue-basic', forms, csrf.verify, async (ctx) => {
    await interaction(ctx, ENROL_OFFER_PROMPT);
    return finish(ctx, {});
  });

  router.get('/interaction/:uid/enrol', async (ctx) => {
    const { account, fresh, context } = await firstEnrolment(ctx);
    if (!fresh) return confirmPage(ctx, context);
    await showEnrolment(services, page, ctx, account, context);
  });

  router.post('/interaction/:uid/enrol', forms, csrf.verify, async (ctx) => {
    const { account, session, fresh, context, where } = await firstEnrolment(ctx);
    if (!fresh) return confirmPage(ctx, context);
    const device = await submitEnrolment(services, page, ctx, account, context, where);
    if (device) {
      // Enrolling proved a current code from the new device: the session now has otp.
      await services.freshProof.recordCode(session, device.id);
      return finish(ctx, {
        login: { accountId: account.id, acr: ACR_HIGHER, amr: AMR_PASSWORD_AND_CODE, remember: true, ts: session.loginTs },
      });
    }
  });

  router.post('/interaction/:uid/confirm', forms, csrf.verify, async (ctx) => {
    const { account, session, context, where } = await firstEnrolment(ctx);
    const form = parseForm(confirmForm, ctx.request.body);
    if (!form) throw BAD_FORM;
    const next = form.next === 'passkey' ? 'passkey' : undefined;
    const outcome = await services.freshProof.confirm(account, session, form.password, form.code, where);
    if (!outcome.ok) {
      const refusal = confirmationRefusal(outcome);
      return confirmPage(ctx, context, { [`${outcome.field}Error`]: say(ctx, refusal.words) }, refusal.status, next);
    }
    // Back to the enrolment the person was on: the passkey's page or the app's, never anywhere else.
    ctx.status = 303;
    ctx.redirect(next ? context.passkeyLink : context.action);
  });

  // The address bar shows a form's action after a refused post; opening it goes back to the page.
  router.get('/interaction/:uid/:step', (ctx) => {
    const uid = uidParam.safeParse(ctx.params.uid);
    if (!uid.success) throw EXPIRED_SIGN_IN;
    ctx.redirect(`/interaction/${uid.data}`);
  });

  return router;
}

/** Where the enrolment inside a sign-in lives: the app's page, the passkey's page and its options. */
const enrolPaths = (uid: string) => ({
  app: `/interaction/${uid}/enrol`,
  passkey: `/interaction/${uid}/enrol/passkey`,
  passkeyOptions: `/interaction/${uid}/enrol/passkey/options`,
});

/**
 * Enrolment inside a sign-in, for an account with no second factor yet (offered to higher members,
 * or needed for step-up): an authenticator app (sign-in-routes.ts) or a passkey
 * (passkey-enrol-routes.ts), by the same rules. With a second factor, that is required instead: a
 * password alone must never be able to add one. Like every credential change it needs fresh
 * proof: the password just given in this sign-in counts; an older session (step-up) is asked to
 * confirm its password.
 */
export function enrolmentInSignIn(deps: PageDeps) {
  const { services } = deps;
  const { page, say, interaction, schoolNameFor } = pageHelpers(deps);
  const { accountOf, sessionOf, stepUpOf } = secondStep(deps);

  const firstEnrolment = async (ctx: Context) => {
    const details = await interaction(ctx, ENROL_OFFER_PROMPT, AUTHENTICATOR_PROMPT);
    const account = await accountOf(details);
    if (!(await services.access.mayEnrolDuringSignIn(account.id))) throw EXPIRED_SIGN_IN;
    const session = await sessionOf(details, account);
    const paths = enrolPaths(details.uid);
    // Leaving the offer goes back to it; leaving a step-up tells the client higher access was not set up.
    const leave =
      details.prompt.name === ENROL_OFFER_PROMPT
        ? { cancelLink: `/interaction/${details.uid}` }
        : { declineAction: `/interaction/${details.uid}/decline` };
    const context = {
      uid: details.uid,
      schoolName: await schoolNameFor(details),
      action: paths.app,
      passkeyLink: paths.passkey,
      ...leave,
      ...(await stepUpOf(ctx, details)),
    };
    const fresh = (await services.freshProof.check(session)).fresh;
    return { account, session, fresh, where: requestContext(ctx, details, context.schoolName), context };
  };

  /** "Confirm it's you" first; `next: 'passkey'` comes back to the passkey's page rather than the app's. */
  const confirmPage = (
    ctx: Context,
    context: Record<string, unknown>,
    errors: Record<string, string> = {},
    status = 200,
    next?: 'passkey',
  ) =>
    page(ctx, 'confirm', { ...context, action: `/interaction/${String(context.uid)}/confirm`, needsCode: false, next, ...errors }, status);

  /** What the passkey's form needs (views/partials/enrol-passkey-form.hbs); its name starts as the word for a passkey. */
  const passkeyForm = (ctx: Context, uid: string, name?: string) => {
    const paths = enrolPaths(uid);
    return {
      passkeyAction: paths.passkey,
      passkeyOptions: paths.passkeyOptions,
      passkeyName: name ?? say(ctx, 'signin.enrolPasskey.nameDefault'),
    };
  };

  return { firstEnrolment, confirmPage, passkeyForm };
}
