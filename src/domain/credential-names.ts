import { type DomainError, validationError } from './errors.ts';

/** The longest name of an authenticator device or a passkey, after trimming. */
export const CREDENTIAL_NAME_MAX = 60;

/**
 * Control characters (Cc: line breaks, tabs, escapes), format characters (Cf: bidi overrides,
 * zero-width ones) and the Unicode line and paragraph separators. A name is written into plain-text
 * mails and the audit trail: a line break there starts a line of the sender's choosing, a bidi
 * override shows the name reversed. No one types them into a name field; a paste or a forged post does.
 */
const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

const hiddenCharacters = () =>
  validationError('The name cannot have line breaks, tabs or hidden formatting characters.', 'name', {
    key: 'passkeys.names.hiddenCharacters',
  });

/**
 * The one rule for the name of a device or a passkey: trimmed, not empty, at most
 * CREDENTIAL_NAME_MAX characters, nothing hidden. Each kind says the first two in its own words.
 */
export function credentialNameRefusal(
  name: unknown,
  refusals: { required: () => DomainError; tooLong: () => DomainError },
): DomainError | undefined {
  const trimmed = typeof name === 'string' ? name.trim() : '';
  if (trimmed.length === 0) return refusals.required();
  if (trimmed.length > CREDENTIAL_NAME_MAX) return refusals.tooLong();
  if (HIDDEN.test(trimmed)) return hiddenCharacters();
  return undefined;
}
