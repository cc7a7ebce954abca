import Router from '@koa/router';
import type { Context } from 'koa';
import { forms } from '../http/forms.ts';
import { chosenLanguage, languageOf } from '../http/language.ts';
import { PageError } from '../http/page-error.ts';
import { BAD_FORM, pageHelpers, requestContext, type PageDeps } from '../interactions/pages.ts';
import { asBackupCodeRefusal, confirmationRefusal } from '../interactions/refusals.ts';
import { accountReturnPath, confirmForm, deviceIdParam, parseForm } from '../interactions/schemas.ts';
import { showEnrolment, submitEnrolment } from './enrolment-page.ts';
import { backupCodeRoutes } from './backup-code-routes.ts';
import { passkeyRoutes } from './passkey-routes.ts';
import { KEYS, type AccountPages } from './security-keys.ts';
import { accountSession, rememberedSchoolClient, rememberSchoolClient, type SignedInAccount } from './session.ts';

const CONFIRM = '/account/confirm';

/** OIDC third-party initiated login: the school system learns which issuer (and who) to use. */
function thirdPartyLoginLink(loginUri: string, issuer: string, email: string): string {
  const url = new URL(loginUri);
  url.searchParams.set('iss', issuer);
  url.searchParams.set('login_hint', email);
  return url.toString();
}

/**
 * Account settings: the Security keys tab (devices: list, add by QR code, remove) and Schools.
 * Reached from a school's system (`/account?client_id=…`), every page names that school.
 */
export function accountRoutes(deps: PageDeps) {
  const { provider, services, csrf } = deps;
  const helpers = pageHelpers(deps);
  const sessions = accountSession(provider, services);
  const router = new Router();

  /** Every Account settings page: the school's name in the header when a school's system sent the person here. */
  const page: typeof helpers.page = (ctx, view, context, status) =>
    helpers.page(ctx, view, { schoolName: ctx.state.schoolName, ...context }, status);

  /**
   * The school system this visit came from: `client_id` on any /account address (an unknown one is
   * ignored), else the one remembered from earlier. Its school's name is then in every page's
   * header, error pages and the account sign-in included.
   */
  router.use(async (ctx, next) => {
    const asked = typeof ctx.query.client_id === 'string' ? ctx.query.client_id : undefined;
    const askedName = asked ? await helpers.schoolNameOfClient(asked) : undefined;
    if (asked && askedName) rememberSchoolClient(ctx, asked);
    const clientId = askedName ? asked : rememberedSchoolClient(ctx);
    const schoolName = askedName ?? (clientId ? await helpers.schoolNameOfClient(clientId) : undefined);
    if (clientId && schoolName) {
      ctx.state.accountClientId = clientId;
      ctx.state.schoolName = schoolName;
    }
    await next();
  });

  /**
   * The signed-in account, or a redirect through sign-in (GET) / an error (POST). Its pages are in
   * the language chosen with the link, else the one the account last used, else the browser's;
   * the account remembers it, for its mails.
   */
  async function signedIn(ctx: Context): Promise<SignedInAccount | null> {
    const current = await sessions.current(ctx);
    if (!current) {
      if (ctx.method !== 'GET') throw new PageError(401, 'signedOut');
      sessions.startSignIn(ctx, ctx.path, { schoolClient: ctx.state.accountClientId as string | undefined });
      return null;
    }
    // A school the person does not work at is not theirs to be shown in: the service's name then.
    const clientId = ctx.state.accountClientId as string | undefined;
    if (clientId && !(await services.access.canSignIn(current.account.id, clientId))) {
      ctx.state.accountClientId = undefined;
      ctx.state.schoolName = undefined;
    }
    const language = chosenLanguage(ctx)?.language ?? current.account.language ?? languageOf(ctx);
    ctx.state.language = language;
    await services.accounts.rememberLanguage(current.account, language);
    return current;
  }

  const notices: Record<string, string> = {
    added: 'account.notice.added',
    removed: 'account.notice.removed',
    'passkey-added': 'passkeys.notice.added',
    'passkey-removed': 'passkeys.notice.removed',
  };

  router.get('/account', (ctx) => ctx.redirect(KEYS));

  router.get('/account/callback', (ctx) => {
    if (typeof ctx.query.error === 'string') {
      throw new PageError(400, 'accountSignInFailed');
    }
    const returnTo = sessions.finishSignIn(ctx);
    if (!returnTo) throw new PageError(400, 'accountSignInExpired');
    ctx.redirect(returnTo);
  });

  router.get(KEYS, async (ctx) => {
    const current = await signedIn(ctx);
    if (!current) return;
    const [devices, passkeys, backupCodes, hasSecondFactor] = await Promise.all([
      services.authenticators.list(current.account.id),
      services.passkeys.list(current.account.id),
      services.backupCodes.summary(current.account.id),
      // The rule the backup-codes page and the domain refuse by (a device or a passkey, counted in
      // one query), so the section never offers what the next page would refuse.
      services.authenticators.hasSecondFactor(current.account.id),
    ]);
    const notice = typeof ctx.query.done === 'string' && Object.hasOwn(notices, ctx.query.done) ? notices[ctx.query.done] : undefined;
    page(ctx, 'security-keys', {
      account: current.account,
      devices,
      passkeys,
      backupCodes,
      hasSecondFactor,
      notice: notice && helpers.say(ctx, notice),
      tab: 'keys',
    });
  });

  router.get('/account/schools', async (ctx) => {
    const current = await signedIn(ctx);
    if (!current) return;
    const schools = (await services.access.switchableSchools(current.account.id)).map((school) => ({
      ...school,
      link: school.login_uri ? thirdPartyLoginLink(school.login_uri, services.config.issuer, current.account.email) : null,
    }));
    page(ctx, 'schools', { account: current.account, schools, tab: 'schools' });
  });

  /**
   * Fresh proof (password and code) for a credential change, or the "confirm it's you" page and
   * back to `returnTo` afterwards. Every route that changes credentials goes through here.
   */
  async function freshProofOrConfirm(ctx: Context, current: SignedInAccount, returnTo: string) {
    const proof = await services.freshProof.check(current.session);
    if (proof.fresh) return proof;
    ctx.status = 303;
    ctx.redirect(`${CONFIRM}?${new URLSearchParams({ next: returnTo })}`);
    return null;
  }

  /**
   * "Confirm it's you" shows the ways this account has: a passkey first (one touch is the strongest
   * and the easiest), then the password with an app code or a backup code. An account whose only
   * second factor is a passkey, with no backup codes left, cannot pass the password form (it needs a
   * code it does not have), so the page says what to do instead of showing it. The code field is
   * numeric unless a backup code (letters) can be typed there.
   */
  const confirmPage = async (
    ctx: Context,
    current: SignedInAccount,
    needsCode: boolean,
    next: string,
    errors: Record<string, string> = {},
    status = 200,
  ) => {
    const [devices, passkeys, backupCodes] = await Promise.all([
      services.authenticators.list(current.account.id),
      services.passkeys.list(current.account.id),
      services.backupCodes.summary(current.account.id),
    ]);
    const has = { hasDevices: devices.length > 0, hasPasskeys: passkeys.length > 0, backupCodesLeft: backupCodes.left };
    const passkeyOnly = needsCode && !has.hasDevices && has.backupCodesLeft === 0;
    page(ctx, 'confirm', { tab: 'keys', action: CONFIRM, cancelLink: KEYS, needsCode, next, ...has, passkeyOnly, ...errors }, status);
  };

  const returnPathOf = (value: unknown) => {
    const parsed = accountReturnPath.safeParse(value);
    return parsed.success ? parsed.data : KEYS;
  };

  router.get(CONFIRM, async (ctx) => {
    const current = await signedIn(ctx);
    if (!current) return;
    const { needsCode } = await services.freshProof.check(current.session);
    await confirmPage(ctx, current, needsCode, returnPathOf(ctx.query.next));
  });

  router.post(CONFIRM, forms, csrf.verify, async (ctx) => {
    const current = (await signedIn(ctx))!;
    const form = parseForm(confirmForm, ctx.request.body);
    if (!form) throw BAD_FORM;
    const next = returnPathOf(form.next);
    const outcome = await services.freshProof.confirm(current.account, current.session, form.password, form.code, requestContext(ctx));
    if (outcome.ok) {
      ctx.status = 303;
      return ctx.redirect(next);
    }
    const refusal = confirmationRefusal(outcome);
    // Without an authenticator device, the code can only be a backup code: its refusal says so.
    const backupCodeOnly = outcome.field === 'code' && (await services.authenticators.list(current.account.id)).length === 0;
    const { words, status } = backupCodeOnly ? asBackupCodeRefusal(refusal) : refusal;
    await confirmPage(ctx, current, outcome.needsCode, next, { [`${outcome.field}Error`]: helpers.say(ctx, words) }, status);
  });

  router.get(`${KEYS}/new`, async (ctx) => {
    const current = await signedIn(ctx);
    if (!current || !(await freshProofOrConfirm(ctx, current, `${KEYS}/new`))) return;
    await showEnrolment(services, page, ctx, current.account, { action: `${KEYS}/new`, cancelLink: KEYS, tab: 'keys' });
  });

  router.post(`${KEYS}/new`, forms, csrf.verify, async (ctx) => {
    const current = (await signedIn(ctx))!;
    if (!(await freshProofOrConfirm(ctx, current, `${KEYS}/new`))) return;
    const device = await submitEnrolment(
      services,
      page,
      ctx,
      current.account,
      { action: `${KEYS}/new`, cancelLink: KEYS, tab: 'keys' },
      requestContext(ctx, undefined, ctx.state.schoolName as string | undefined),
    );
    if (device) {
      await sessions.recordCodePassed(ctx);
      await services.freshProof.recordCode(current.session, device.id);
      ctx.status = 303;
      ctx.redirect(`${KEYS}?done=added`);
    }
  });

  const deviceOf = async (ctx: Context, current: SignedInAccount) => {
    const id = deviceIdParam.safeParse(ctx.params.id);
    const device = id.success ? (await services.authenticators.list(current.account.id)).find((d) => d.id === id.data) : undefined;
    if (!device) throw new PageError(404, 'deviceNotFound');
    return device;
  };

  router.get(`${KEYS}/:id/remove`, async (ctx) => {
    const current = await signedIn(ctx);
    if (!current) return;
    const device = await deviceOf(ctx, current);
    if (!(await freshProofOrConfirm(ctx, current, `${KEYS}/${device.id}/remove`))) return;
    page(ctx, 'remove-device', { device, tab: 'keys' });
  });

  router.post(`${KEYS}/:id/remove`, forms, csrf.verify, async (ctx) => {
    const current = (await signedIn(ctx))!;
    const device = await deviceOf(ctx, current);
    const proof = await freshProofOrConfirm(ctx, current, `${KEYS}/${device.id}/remove`);
    if (!proof) return;
    await services.authenticators.remove(
      current.account,
      device.id,
      requestContext(ctx, undefined, ctx.state.schoolName as string | undefined),
      proof.codeDeviceId,
    );
    ctx.status = 303;
    ctx.redirect(`${KEYS}?done=removed`);
  });

  /** Where a credential change on these pages came from, for the audit trail and the mail (in the school's name). */
  const whereOf = (ctx: Context) => requestContext(ctx, undefined, ctx.state.schoolName as string | undefined);

  const kit: AccountPages = { router, services, csrf, page, say: helpers.say, signedIn, freshProofOrConfirm, whereOf };
  backupCodeRoutes(kit);
  passkeyRoutes(kit, {
    confirmPage: async (ctx, current, next, errors, status) =>
      confirmPage(ctx, current, (await services.freshProof.check(current.session)).needsCode, next, errors, status),
    recordSecondFactor: (ctx, amr) => sessions.recordCodePassed(ctx, amr),
  });
  return router;
}
