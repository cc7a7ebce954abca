import Router from '@koa/router';
import type { Context } from 'koa';
import { forms } from '../http/forms.ts';
import { PageError } from '../http/page-error.ts';
import { BAD_FORM, pageHelpers, requestContext, type PageDeps } from '../interactions/pages.ts';
import { refusalOf, WRONG_CODE } from '../interactions/refusals.ts';
import { deviceIdParam, parseForm, removeDeviceForm } from '../interactions/schemas.ts';
import { showEnrolment, submitEnrolment } from './enrolment-page.ts';
import { accountSession, type SignedInAccount } from './session.ts';

const KEYS = '/account/security-keys';

/** OIDC third-party initiated login: the school system learns which issuer (and who) to use. */
function thirdPartyLoginLink(loginUri: string, issuer: string, email: string): string {
  const url = new URL(loginUri);
  url.searchParams.set('iss', issuer);
  url.searchParams.set('login_hint', email);
  return url.toString();
}

/** Account settings: the Security keys tab (devices: list, add by QR code, remove). */
export function accountRoutes(deps: PageDeps) {
  const { provider, services, csrf } = deps;
  const { page } = pageHelpers(deps);
  const sessions = accountSession(provider, services);
  const router = new Router();

  /** The signed-in account, or a redirect through sign-in (GET) / an error (POST). */
  async function signedIn(ctx: Context): Promise<SignedInAccount | null> {
    const current = await sessions.current(ctx);
    if (current) return current;
    if (ctx.method !== 'GET') throw new PageError(401, 'You are signed out', 'Sign in again and repeat what you were doing.');
    sessions.startSignIn(ctx, ctx.path);
    return null;
  }

  const notices: Record<string, string> = { added: 'Your new device is saved.', removed: 'The device has been removed.' };

  router.get('/account', (ctx) => ctx.redirect(KEYS));

  router.get('/account/callback', (ctx) => {
    if (typeof ctx.query.error === 'string') {
      throw new PageError(400, 'You are not signed in', 'The sign-in did not finish. Go to your account settings to try again.');
    }
    const returnTo = sessions.finishSignIn(ctx);
    if (!returnTo) throw new PageError(400, 'This sign-in has expired', 'Go to your account settings to sign in again.');
    ctx.redirect(returnTo);
  });

  router.get(KEYS, async (ctx) => {
    const current = await signedIn(ctx);
    if (!current) return;
    const devices = await services.authenticators.list(current.account.id);
    const notice = typeof ctx.query.done === 'string' ? notices[ctx.query.done] : undefined;
    page(ctx, 'security-keys', { title: 'Security keys', account: current.account, devices, notice, tab: 'keys' });
  });

  router.get('/account/schools', async (ctx) => {
    const current = await signedIn(ctx);
    if (!current) return;
    const schools = (await services.access.switchableSchools(current.account.id)).map((school) => ({
      ...school,
      link: school.login_uri ? thirdPartyLoginLink(school.login_uri, services.config.issuer, current.account.email) : null,
    }));
    page(ctx, 'schools', { title: 'Your schools', account: current.account, schools, tab: 'schools' });
  });

  router.get(`${KEYS}/new`, async (ctx) => {
    const current = await signedIn(ctx);
    if (!current) return;
    await showEnrolment(services, page, ctx, current.account, { action: `${KEYS}/new`, cancelLink: KEYS, tab: 'keys' });
  });

  router.post(`${KEYS}/new`, forms, csrf.verify, async (ctx) => {
    const current = (await signedIn(ctx))!;
    if (await submitEnrolment(services, page, ctx, current.account, { action: `${KEYS}/new`, cancelLink: KEYS, tab: 'keys' }, requestContext(ctx))) {
      await sessions.recordCodePassed(ctx);
      ctx.status = 303;
      ctx.redirect(`${KEYS}?done=added`);
    }
  });

  const deviceOf = async (ctx: Context, current: SignedInAccount) => {
    const id = deviceIdParam.safeParse(ctx.params.id);
    const device = id.success ? (await services.authenticators.list(current.account.id)).find((d) => d.id === id.data) : undefined;
    if (!device) throw new PageError(404, 'Device not found', 'That device is not on your account. It may have been removed already.');
    return device;
  };

  router.get(`${KEYS}/:id/remove`, async (ctx) => {
    const current = await signedIn(ctx);
    if (!current) return;
    page(ctx, 'remove-device', { title: 'Remove device', device: await deviceOf(ctx, current), tab: 'keys' });
  });

  router.post(`${KEYS}/:id/remove`, forms, csrf.verify, async (ctx) => {
    const current = (await signedIn(ctx))!;
    const device = await deviceOf(ctx, current);
    const form = parseForm(removeDeviceForm, ctx.request.body);
    if (!form) throw BAD_FORM;
    if (!form.code.trim() && !form.password) {
      return page(ctx, 'remove-device', { title: 'Remove device', device, tab: 'keys', codeError: 'Enter a code from your authenticator app, or your password.' }, 400);
    }
    const byCode = form.code.trim() !== '';
    const proof = byCode
      ? await services.authentication.checkCode(current.account, form.code, requestContext(ctx))
      : await services.authentication.checkPasswordOf(current.account, form.password, requestContext(ctx));
    if (!proof.ok) {
      const wrong = byCode ? WRONG_CODE : 'That password is not right.';
      const error = { [byCode ? 'codeError' : 'passwordError']: refusalOf(proof, wrong).message };
      return page(ctx, 'remove-device', { title: 'Remove device', device, tab: 'keys', ...error }, refusalOf(proof).status);
    }
    await services.authenticators.remove(current.account, device.id, requestContext(ctx));
    ctx.status = 303;
    ctx.redirect(`${KEYS}?done=removed`);
  });

  return router;
}
