import type { FindAccount } from 'oidc-provider';
import { isUsable } from '../domain/access.ts';
import type { Services } from '../services.ts';

type TokenLike = { amr?: string[]; grantId?: string; extra?: { amr?: string[] } } | undefined;

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
      async claims(_use, scope) {
        const scopes = new Set(scope.split(' '));
        const schoolClaims = scopes.has('school') && clientId ? await services.access.schoolClaims(sub, clientId, amr, grantId) : {};
        return {
          sub,
          email: account.email,
          // The address is proven once the person has set a password through an emailed link.
          email_verified: account.passwordHash !== null,
          name: account.name ?? undefined,
          ...schoolClaims,
        };
      },
    };
  };
}
