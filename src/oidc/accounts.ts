import type { FindAccount } from 'oidc-provider';
import { isUsable } from '../domain/access.ts';
import type { Services } from '../services.ts';

type ClaimsRequest = { id_token?: Record<string, unknown> | null; userinfo?: Record<string, unknown> | null };
type TokenLike = { amr?: string[]; grantId?: string; extra?: { amr?: string[] }; claims?: ClaimsRequest } | undefined;

/**
 * OIDC Core §5.5: the `claims` parameter says where each claim is wanted. One asked for at userinfo
 * and not for the ID token stays out of the ID token, even when a scope would release it there.
 */
export function askedForUserinfoOnly(request: ClaimsRequest | undefined): Set<string> {
  const forIdToken = request?.id_token ?? {};
  return new Set(Object.keys(request?.userinfo ?? {}).filter((claim) => claim !== 'sub' && !Object.hasOwn(forIdToken, claim)));
}

/**
 * Claims for ID tokens and userinfo. The school claims depend on the client (which school the
 * sign-in is for) and on how the session authenticated (rule 4), read from the token at hand.
 */
export function createFindAccount(services: Services): FindAccount {
  return async (ctx, sub, token) => {
    const account = await services.access.account(sub);
    if (!isUsable(account)) return undefined;
    const amr = (token as TokenLike)?.amr ?? (token as TokenLike)?.extra?.amr ?? ctx.oidc.session?.amr;
    const clientId = ctx.oidc.client?.clientId;
    const grantId = (token as TokenLike)?.grantId ?? ctx.oidc.grant?.jti;
    return {
      accountId: sub,
      async claims(use, scope) {
        const scopes = new Set(scope.split(' '));
        const schoolClaims = scopes.has('school') && clientId ? await services.access.schoolClaims(sub, clientId, amr, grantId) : {};
        const claims: Record<string, unknown> = {
          sub,
          email: account.email,
          // The address is proven once the person has set a password through an emailed link.
          email_verified: account.passwordHash !== null,
          name: account.name ?? undefined,
          ...schoolClaims,
        };
        if (use === 'id_token') for (const claim of askedForUserinfoOnly((token as TokenLike)?.claims)) delete claims[claim];
        return claims as { sub: string };
      },
    };
  };
}
