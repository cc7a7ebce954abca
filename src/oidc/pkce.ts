import type { Client, KoaContextWithOIDC } from 'oidc-provider';
import { errors } from 'oidc-provider';

/**
 * Client metadata of Gatehouse's own: `true` lets this client leave out PKCE. It exists for the
 * OpenID conformance suite, whose plans send no `code_challenge` (only its PKCE module does) and
 * one of whose modules sends no `nonce` either, so "a nonce instead" (RFC 9700 §2.1.1) would not
 * do. Only the helpdesk sets it (`client add --pkce optional`); every other client needs PKCE.
 */
export const PKCE_OPTIONAL = 'pkce_optional';

export function pkceRequired(_ctx: KoaContextWithOIDC, client: Client): boolean {
  return (client as unknown as Record<string, unknown>)[PKCE_OPTIONAL] !== true;
}

export function validatePkceOptional(_ctx: KoaContextWithOIDC | undefined, key: string, value: unknown): void {
  if (key === PKCE_OPTIONAL && value !== undefined && typeof value !== 'boolean') {
    throw new errors.InvalidClientMetadata(`${PKCE_OPTIONAL} must be true or false`);
  }
}
