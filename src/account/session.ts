import crypto from 'node:crypto';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { sameSecret } from '../auth/constant-time.ts';
import type { Account } from '../db/entities/index.ts';
import { ACR_HIGHER, AMR_PASSWORD_AND_CODE, holdsSession } from '../domain/access.ts';
import type { ProofSession } from '../domain/fresh-proof.ts';
import { sessionSecondsLeft } from '../domain/session-lifetime.ts';
import { ACCOUNT_CLIENT_ID } from '../oidc/policy.ts';
import { SESSION_COOKIE } from '../oidc/provider.ts';
import { saveExistingSession } from '../oidc/session-store.ts';
import type { Services } from '../services.ts';

const STATE_COOKIE = 'gatehouse.account_signin';
/** The school system Account settings was reached from (`/account?client_id=`), for its school's name. */
const SCHOOL_CLIENT_COOKIE = 'gatehouse.account_client';
/** The `/auth` parameter carrying it to the account sign-in's pages (src/interactions/pages.ts schoolNameFor). */
export const SCHOOL_CLIENT_PARAM = 'school_client';
/** Where a sign-in started from our own pages may return to: never anywhere else. */
const SIGNED_IN_AREAS = ['/account', '/admin'];

export type SignedInAccount = { account: Account; amr: string[]; session: ProofSession };

/**
 * /account uses the provider's own session, so signing in there is signing in everywhere (and
 * the other way round). A session that has not passed the code an account needs does not count.
 */
export function accountSession(provider: Provider, services: Services) {
  const { issuer, ttl } = services.config;

  async function current(ctx: Context): Promise<SignedInAccount | null> {
    const session = await provider.Session.get(ctx as never);
    if (!session.accountId) return null;
    const account = await services.accounts.findById(session.accountId);
    // Locked, or its sessions were ended (reset, lock, mfa-reset) after this one signed in.
    if (!holdsSession(account, session.loginTs)) return null;
    const amr = (session.amr as string[] | undefined) ?? [];
    if (await services.access.needsCode(account.id, amr)) return null;
    // Ended while this request ran: the row is gone, and stays gone.
    if (!(await keepAlive(ctx, session))) return null;
    return { account, amr, session: { sessionUid: session.uid, accountId: account.id, loginTs: session.loginTs, amr } };
  }

  /**
   * Using /account is using the session: move its idle deadline as oidc-provider does on every
   * authorization (same rule, so the absolute lifetime still holds), and a remembered cookie's
   * Expires with it. Only an existing row is updated: false if the session was ended meanwhile.
   */
  async function keepAlive(ctx: Context, session: InstanceType<Provider['Session']>): Promise<boolean> {
    const seconds = sessionSecondsLeft(session.loginTs, Math.floor(Date.now() / 1000), {
      idleSeconds: ttl.sessionIdleSeconds,
      absoluteSeconds: ttl.sessionSeconds,
    });
    if (!(await saveExistingSession(session, seconds))) return false;
    if (session.transient) return true;
    provider.createContext(ctx.req, ctx.res).cookies.set(provider.cookieName('session'), session.jti, {
      ...SESSION_COOKIE,
      expires: new Date(Date.now() + seconds * 1000),
    });
    return true;
  }

  /**
   * Saving a device proves a current code from it, and adding a passkey proves the passkey, so the
   * session now counts as having passed a second factor (otherwise adding the first one would sign
   * the person out of this page). `amr` is what was proven (a passkey's from `passkeyAmr`).
   */
  async function recordCodePassed(ctx: Context, amr: string[] = AMR_PASSWORD_AND_CODE): Promise<void> {
    const session = await provider.Session.get(ctx as never);
    if (!session.accountId) return;
    session.amr = amr;
    session.acr = ACR_HIGHER;
    await saveExistingSession(session, Math.max(1, session.exp - Math.floor(Date.now() / 1000)));
  }

  /**
   * Sends the visitor through the provider's sign-in and back to where they were going; with
   * `higher`, the sign-in asks for a code (or enrolment first), as a step-up from a school system would.
   */
  function startSignIn(ctx: Context, returnTo: string, options: { higher?: boolean; schoolClient?: string | undefined } = {}) {
    const state = crypto.randomBytes(24).toString('base64url');
    ctx.cookies.set(STATE_COOKIE, `${state}|${returnTo}`, {
      httpOnly: true,
      sameSite: 'lax',
      secure: ctx.secure,
      signed: true,
      path: '/account',
      maxAge: 30 * 60 * 1000,
    });
    const url = new URL(`${issuer}/auth`);
    url.search = new URLSearchParams({
      client_id: ACCOUNT_CLIENT_ID,
      response_type: 'none',
      scope: 'openid',
      redirect_uri: `${issuer}/account/callback`,
      state,
      ...(options.higher ? { acr_values: ACR_HIGHER } : {}),
      ...(options.schoolClient ? { [SCHOOL_CLIENT_PARAM]: options.schoolClient } : {}),
    }).toString();
    ctx.redirect(url.toString());
  }

  /** The return from the provider: the state must be the one this browser was given. */
  function finishSignIn(ctx: Context): string | null {
    const stored = ctx.cookies.get(STATE_COOKIE, { signed: true }) ?? '';
    ctx.cookies.set(STATE_COOKIE, null, { path: '/account' });
    const cut = stored.indexOf('|');
    const [state, returnTo] = cut < 0 ? [] : [stored.slice(0, cut), stored.slice(cut + 1)];
    const received = typeof ctx.query.state === 'string' ? ctx.query.state : '';
    if (!state || !returnTo || !sameSecret(received, state)) return null;
    return SIGNED_IN_AREAS.some((area) => returnTo === area || returnTo.startsWith(`${area}/`) || returnTo.startsWith(`${area}?`))
      ? returnTo
      : '/account';
  }

  return { current, recordCodePassed, startSignIn, finishSignIn };
}

/** Remembers, for this browser's visit to Account settings, the school system it came from (a known client). */
export function rememberSchoolClient(ctx: Context, clientId: string): void {
  if (rememberedSchoolClient(ctx) === clientId) return;
  ctx.cookies.set(SCHOOL_CLIENT_COOKIE, clientId, { httpOnly: true, sameSite: 'lax', secure: ctx.secure, signed: true, path: '/account' });
}

/** The school system remembered by `rememberSchoolClient`, if the cookie is ours and untouched. */
export function rememberedSchoolClient(ctx: Context): string | undefined {
  const value = ctx.cookies.get(SCHOOL_CLIENT_COOKIE, { signed: true });
  return value && value.length <= 255 ? value : undefined;
}
