import type { Client, KoaContextWithOIDC } from 'oidc-provider';
import { errors } from 'oidc-provider';

/**
 * Client metadata of Gatehouse's own: `true` lets this (confidential) client send a `nonce` instead
 * of PKCE. RFC 9700 §2.1.1 allows exactly that ("confidential OpenID Connect clients MAY use the
 * nonce parameter and the respective Claim in the ID Token instead"); the OpenID conformance
 * suite's plans send no PKCE. Only the helpdesk sets it (`client add --pkce or-nonce`).
 */
export const PKCE_OR_NONCE = 'pkce_or_nonce';

/** PKCE (S256) for every authorization, unless the client may use a nonce instead and sent one. */
export function pkceRequired(ctx: KoaContextWithOIDC, client: Client): boolean {
  const nonce = ctx.oidc.params?.nonce;
  const nonceAllowed = (client as unknown as Record<string, unknown>)[PKCE_OR_NONCE] === true;
  return !(nonceAllowed && typeof nonce === 'string' && nonce.length > 0);
}

export function validatePkceOrNonce(_ctx: KoaContextWithOIDC | undefined, key: string, value: unknown): void {
  if (key === PKCE_OR_NONCE && value !== undefined && typeof value !== 'boolean') {
    throw new errors.InvalidClientMetadata(`${PKCE_OR_NONCE} must be true or false`);
  }
}
