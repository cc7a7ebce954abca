import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import type { AccessService } from '../domain/access.ts';

const { Prompt, Check, base } = interactionPolicy;

export const SCHOOL_ACCESS_PROMPT = 'school_access';

/**
 * The base login and consent prompts, plus rule 2 after login: an account without a membership
 * at a school this client serves gets the "no access" page (and access_denied under prompt=none).
 * It runs on every authorization, so single sign-on cannot bypass it.
 */
export function createInteractionPolicy(access: AccessService) {
  const policy = base();
  policy.add(
    new Prompt(
      { name: SCHOOL_ACCESS_PROMPT, requestable: false },
      new Check('no_membership', 'the account has no membership at a school this client serves', 'access_denied', async (ctx: KoaContextWithOIDC) => {
        const accountId = ctx.oidc.session?.accountId;
        const clientId = ctx.oidc.client?.clientId;
        if (!accountId || !clientId) return Check.NO_NEED_TO_PROMPT;
        return (await access.canSignIn(accountId, clientId)) ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
      }),
    ),
    1,
  );
  return policy;
}
