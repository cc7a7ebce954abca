/**
 * NIST SP 800-63B (rev 4) for a password that may be the only factor: length is what counts,
 * any characters are allowed, no composition rules. Returns the reason in words, or null.
 */
export const PASSWORD_MIN_LENGTH = 15;
export const PASSWORD_MAX_LENGTH = 256;

export function passwordProblem(password: string, email: string): string | null {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) {
    return `Your password must be at least ${PASSWORD_MIN_LENGTH} characters long. A few ordinary words together make a good one.`;
  }
  if (length > PASSWORD_MAX_LENGTH) return `Your password must be at most ${PASSWORD_MAX_LENGTH} characters long.`;
  const localPart = email.split('@')[0]?.toLowerCase() ?? '';
  if (localPart.length >= 3 && password.toLowerCase().includes(localPart)) {
    return 'Your password must not contain your email address.';
  }
  if (new Set(password).size === 1) return 'Your password must not be one character repeated.';
  return null;
}
