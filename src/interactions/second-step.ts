import type { Context } from 'koa';
import { ACR_HIGHER, isUsable, loginTsFor } from '../domain/access.ts';
import type { Account } from '../db/entities/index.ts';
import type { ProofSession } from '../domain/fresh-proof.ts';
import { AUTHENTICATOR_PROMPT } from '../oidc/policy.ts';
import { manageAccountLink } from './branding.ts';
import { EXPIRED_SIGN_IN, pageHelpers, type InteractionDetails, type PageDeps } from './pages.ts';

/**
 * The second step of a sign-in (the authenticator prompt), shared by each way of passing it: an
 * authenticator code, a backup code, a passkey. Each route checks its factor and then calls
 * `passed`, so every way ends the same: proof recorded for the session, the browser trusted,
 * higher access, the password's loginTs kept.
 */
export function secondStep(deps: PageDeps) {
  const { provider, services, devices } = deps;
  const { page, say, systemNameFor, schoolNameFor, finish } = pageHelpers(deps);

  const accountOf = async (details: InteractionDetails) => {
    const account = details.session?.accountId ? await services.accounts.findById(details.session.accountId) : null;
    if (!isUsable(account)) throw EXPIRED_SIGN_IN;
    return account;
  };

  /**
   * The provider session this sign-in continues. Its loginTs is when the password was given: the
   * second step and enrolment pass it on unchanged, so auth_time, the absolute session lifetime
   * and fresh proof never count a second factor alone as a new sign-in.
   */
  const sessionOf = async (details: InteractionDetails, account: Account): Promise<ProofSession & { loginTs: number }> => {
    const uid = details.session?.uid;
    const session = uid ? await provider.Session.findByUid(uid) : undefined;
    if (!session?.loginTs || session.accountId !== account.id) throw EXPIRED_SIGN_IN;
    return { sessionUid: session.uid, accountId: account.id, loginTs: session.loginTs };
  };

  /**
   * When the school system asked for higher access (acr_values) on a session without a second
   * factor, the pages say which system asked and why: `stepUp` is its name.
   */
  const stepUpOf = async (ctx: Context, details: InteractionDetails): Promise<{ stepUp?: string }> =>
    details.prompt.name === AUTHENTICATOR_PROMPT && details.prompt.reasons.includes('higher_requested')
      ? { stepUp: (await systemNameFor(details)) ?? say(ctx, 'signin.stepUp.thisSystem') }
      : {};

  /** What every page of the second step shows: the school, why (step-up), the way to Account settings, and which factors the account has. */
  const contextOf = async (ctx: Context, details: InteractionDetails, account: Account) => {
    const [devicesOfAccount, passkeys, backupCodes] = await Promise.all([
      services.authenticators.list(account.id),
      services.passkeys.list(account.id),
      services.backupCodes.summary(account.id),
    ]);
    return {
      uid: details.uid,
      schoolName: await schoolNameFor(details),
      ...(await stepUpOf(ctx, details)),
      manageAccount: manageAccountLink(details.params.client_id),
      hasDevices: devicesOfAccount.length > 0,
      hasPasskeys: passkeys.length > 0,
      backupCodesLeft: backupCodes.left,
    };
  };

  /** The second step passed with `amr`; `deviceId` is the authenticator device whose code it was, if one. */
  async function passed(
    ctx: Context,
    account: Account,
    session: ProofSession & { loginTs: number },
    outcome: { amr: string[]; deviceId?: string | null; trustBrowser: boolean },
  ) {
    await services.freshProof.recordCode(session, outcome.deviceId ?? null);
    if (outcome.trustBrowser) devices.trust(ctx, account.id, loginTsFor(account, Date.now()));
    return finish(ctx, {
      login: { accountId: account.id, acr: ACR_HIGHER, amr: outcome.amr, remember: true, ts: session.loginTs },
    });
  }

  /**
   * The second step's page: the code form, a passkey, or both, as the account has them. An account
   * with passkeys and no authenticator device is asked for its passkey, so the title says so too.
   */
  async function codePage(ctx: Context, details: InteractionDetails, errors: { error?: string; passkeyError?: string } = {}, status = 200) {
    const context = await contextOf(ctx, details, await accountOf(details));
    const passkeyOnly = context.hasPasskeys && !context.hasDevices;
    const title = passkeyOnly ? say(ctx, 'signin.passkey.secondStep.heading') : undefined;
    return page(ctx, 'code', { ...context, passkeyOnly, title, ...errors }, status);
  }

  return { page, say, accountOf, sessionOf, stepUpOf, contextOf, passed, codePage };
}
