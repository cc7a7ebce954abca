import type { KoaContextWithOIDC } from 'oidc-provider';
import { errors } from 'oidc-provider';

/**
 * A `claims` request is stored with the code it leads to: one nested thousands deep overflows the
 * stack when it is serialised (a 500). Real ones are a few hundred characters. Checked for every
 * way a request arrives: GET, POST and pushed (PAR).
 */
export const MAX_CLAIMS_CHARACTERS = 4096;

export async function assertReasonableClaims(ctx: KoaContextWithOIDC): Promise<void> {
  const claims = ctx.oidc.params?.claims;
  if (typeof claims === 'string' && claims.length > MAX_CLAIMS_CHARACTERS) {
    throw new errors.InvalidRequest(`the claims parameter must be at most ${MAX_CLAIMS_CHARACTERS} characters`);
  }
}
