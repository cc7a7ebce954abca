import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import type { AccessService } from '../domain/access.ts';

const { Prompt, Check, base } = interactionPolicy;

export const AUTHENTICATOR_PROMPT = 'authenticator';
export const SCHOOL_ACCESS_PROMPT = 'school_access';
export const ENROL_OFFER_PROMPT = 'enrol_offer';
/** Gatehouse's own account pages sign in through this built-in client; it serves no school. */
export const ACCOUNT_CLIENT_ID = 'gatehouse-account';

const sessionOf = (ctx: KoaContextWithOIDC) => ({
  accountId: ctx.oidc.session?.accountId,
  amr: ctx.oidc.session?.amr as string[] | undefined,
  clientId: ctx.oidc.client?.clientId,
});

/**
 * The prompts, in order, evaluated on every authorization (so single sign-on cannot skip one):
 * login (base) -> authenticator code (rule 5) -> school membership (rule 2) -> the enrolment
 * offer for higher members without a device (rule 4) -> consent (base, answered for first-party
 * clients). Under prompt=none each one answers its error instead of a page.
 */
export function createInteractionPolicy(access: AccessService) {
  const policy = base();

  const authenticator = new Prompt(
    { name: AUTHENTICATOR_PROMPT, requestable: false },
    new Check('code_required', 'the account has an authenticator and this session has not passed a code', 'login_required', async (ctx: KoaContextWithOIDC) => {
      const { accountId, amr } = sessionOf(ctx);
      if (!accountId) return Check.NO_NEED_TO_PROMPT;
      return (await access.needsCode(accountId, amr)) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
  );

  const schoolAccess = new Prompt(
    { name: SCHOOL_ACCESS_PROMPT, requestable: false },
    new Check('no_membership', 'the account has no membership at a school this client serves', 'access_denied', async (ctx: KoaContextWithOIDC) => {
      const { accountId, clientId } = sessionOf(ctx);
      if (!accountId || !clientId || clientId === ACCOUNT_CLIENT_ID) return Check.NO_NEED_TO_PROMPT;
      return (await access.canSignIn(accountId, clientId)) ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
    }),
  );

  const enrolOffer = new Prompt(
    { name: ENROL_OFFER_PROMPT, requestable: false },
    new Check('higher_without_device', 'a higher member without an authenticator has just signed in with a password', 'interaction_required', async (ctx: KoaContextWithOIDC) => {
      const { accountId, clientId } = sessionOf(ctx);
      // Offered once, straight after a password login; continuing with basic ends the offer.
      if (!accountId || !clientId || !ctx.oidc.result?.login) return Check.NO_NEED_TO_PROMPT;
      return (await access.shouldOfferEnrolment(accountId, clientId)) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
  );

  policy.add(authenticator, 1);
  policy.add(schoolAccess, 2);
  policy.add(enrolOffer, 3);
  return policy;
}
