import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { ACR_BASIC, ACR_HIGHER, passedSecondFactor, type AccessService } from '../domain/access.ts';

const { Prompt, Check, base } = interactionPolicy;

export const AUTHENTICATOR_PROMPT = 'authenticator';
export const SCHOOL_ACCESS_PROMPT = 'school_access';
export const ENROL_OFFER_PROMPT = 'enrol_offer';
export const SCHOOL_CHOICE_PROMPT = 'school_choice';
/** Gatehouse's own account pages sign in through this built-in client; it serves no school. */
export const ACCOUNT_CLIENT_ID = 'gatehouse-account';

const sessionOf = (ctx: KoaContextWithOIDC) => ({
  accountId: ctx.oidc.session?.accountId,
  loginTs: ctx.oidc.session?.loginTs,
  amr: ctx.oidc.session?.amr as string[] | undefined,
  clientId: ctx.oidc.client?.clientId,
});

type AcrClaim = { essential?: boolean; value?: unknown; values?: unknown };
/** What an authorization request says about acr: its `acr_values` and its `claims` parameter. */
export type AcrRequest = { acrValues: unknown; claims: { id_token?: { acr?: AcrClaim } } | undefined };

const acrRequestOf = (ctx: KoaContextWithOIDC): AcrRequest => ({
  acrValues: ctx.oidc.params?.acr_values,
  claims: ctx.oidc.claims as AcrRequest['claims'],
});

/**
 * Rule 6: a client asks for higher access with acr_values (higher, not basic alongside) or an
 * essential acr claim naming higher (`value`, or `values` without basic). A voluntary acr claim
 * asks for nothing.
 */
export function higherAccessRequested({ acrValues, claims }: AcrRequest): boolean {
  // Stryker disable next-line StringLiteral: any fallback without the higher acr decides the same.
  const values = String(acrValues ?? '').split(' ');
  if (values.includes(ACR_HIGHER) && !values.includes(ACR_BASIC)) return true;
  const claim = claims?.id_token?.acr;
  if (!claim?.essential) return false;
  return (
    claim.value === ACR_HIGHER || (Array.isArray(claim.values) && claim.values.includes(ACR_HIGHER) && !claim.values.includes(ACR_BASIC))
  );
}

/**
 * A session whose account was locked (or deleted) since, or whose sessions were ended after it
 * signed in (reset, lock, mfa-reset), is no session: it must sign in again.
 */
export async function accountUnavailable(
  session: { accountId: string | undefined; loginTs: number | undefined },
  access: Pick<AccessService, 'canHoldSession'>,
): Promise<boolean> {
  if (!session.accountId) return false;
  return !(await access.canHoldSession(session.accountId, session.loginTs));
}

/**
 * The prompts, in order, evaluated on every authorization (so single sign-on cannot skip one):
 * login (base) -> authenticator code (rule 5) -> school membership (rule 2) -> which school, for
 * a client serving several of the person's schools -> the enrolment
 * offer for higher members without a device (rule 4) -> consent (base, answered for first-party
 * clients). Under prompt=none each one answers its error instead of a page.
 */
export function createInteractionPolicy(access: AccessService) {
  const policy = base();
  const login = policy.get('login')!;
  // A password cannot satisfy an acr request; the authenticator prompt below does (rule 6).
  login.checks.remove('essential_acr');
  login.checks.remove('essential_acrs');
  // A session whose account was locked (or deleted) since, or whose sessions were ended, is no session.
  login.checks.add(
    new Check(
      'account_unavailable',
      'the account of this session can no longer sign in',
      'login_required',
      async (ctx: KoaContextWithOIDC) =>
        (await accountUnavailable(sessionOf(ctx), access)) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT,
    ),
    1,
  );

  const authenticator = new Prompt(
    { name: AUTHENTICATOR_PROMPT, requestable: false },
    new Check(
      'code_required',
      'the account has an authenticator and this session has not passed a code',
      'login_required',
      async (ctx: KoaContextWithOIDC) => {
        const { accountId, amr } = sessionOf(ctx);
        if (!accountId) return Check.NO_NEED_TO_PROMPT;
        return (await access.needsCode(accountId, amr)) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
      },
    ),
    new Check(
      'higher_requested',
      'the client asked for higher access and this session has not passed a code',
      'interaction_required',
      async (ctx: KoaContextWithOIDC) => {
        const { accountId, amr } = sessionOf(ctx);
        if (!accountId || passedSecondFactor(amr)) return Check.NO_NEED_TO_PROMPT;
        return higherAccessRequested(acrRequestOf(ctx)) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
      },
    ),
  );

  const schoolAccess = new Prompt(
    { name: SCHOOL_ACCESS_PROMPT, requestable: false },
    new Check(
      'no_membership',
      'the account has no membership at a school this client serves',
      'access_denied',
      async (ctx: KoaContextWithOIDC) => {
        const { accountId, clientId } = sessionOf(ctx);
        if (!accountId || !clientId || clientId === ACCOUNT_CLIENT_ID) return Check.NO_NEED_TO_PROMPT;
        return (await access.canSignIn(accountId, clientId)) ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
      },
    ),
  );

  const enrolOffer = new Prompt(
    { name: ENROL_OFFER_PROMPT, requestable: false },
    new Check(
      'higher_without_device',
      'a higher member without an authenticator has just signed in with a password',
      'interaction_required',
      async (ctx: KoaContextWithOIDC) => {
        const { accountId, clientId } = sessionOf(ctx);
        // Offered once, straight after a password login; continuing with basic ends the offer.
        if (!accountId || !clientId || !ctx.oidc.result?.login) return Check.NO_NEED_TO_PROMPT;
        return (await access.shouldOfferEnrolment(accountId, clientId)) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
      },
    ),
  );

  const schoolChoice = new Prompt(
    { name: SCHOOL_CHOICE_PROMPT, requestable: false },
    new Check(
      'school_not_chosen',
      'the client serves several of the account’s schools and none was chosen',
      'interaction_required',
      async (ctx: KoaContextWithOIDC) => {
        const { accountId, clientId } = sessionOf(ctx);
        if (!accountId || !clientId || clientId === ACCOUNT_CLIENT_ID) return Check.NO_NEED_TO_PROMPT;
        // Stryker disable next-line OptionalChaining: accountId came from the session, so it exists here.
        const grantId = ctx.oidc.session?.grantIdFor(clientId);
        return (await access.needsSchoolChoice(accountId, clientId, grantId)) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
      },
    ),
  );

  policy.add(authenticator, 1);
  policy.add(schoolAccess, 2);
  policy.add(schoolChoice, 3);
  policy.add(enrolOffer, 4);
  return policy;
}
