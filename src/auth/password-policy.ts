import { createRequire } from 'node:module';
import type { Message } from '../i18n/words.ts';

/**
 * NIST SP 800-63B (rev 4) for a password that may be the only factor: length is what counts
 * (15 to 256 characters, the whole password verified), any characters, no composition rules,
 * and no password from a list of common and breached ones. The list is zxcvbn-ts's 49,000
 * most common passwords, installed with the project: nothing is looked up over the network.
 */
export const PASSWORD_MIN_LENGTH = 15;
export const PASSWORD_MAX_LENGTH = 256;

type CommonLists = { dictionary: { 'passwords-common': string[] } };
let commonPasswords: Set<string> | undefined;

/**
 * Read on first use: the list takes about 3.5 MB of memory, and most processes only ever verify
 * passwords. Loaded synchronously (the package's CommonJS build), so this check stays synchronous.
 */
function common(): Set<string> {
  if (!commonPasswords) {
    const { dictionary } = createRequire(import.meta.url)('@zxcvbn-ts/language-common') as CommonLists;
    commonPasswords = new Set(dictionary['passwords-common'].map((p) => p.toLowerCase()));
  }
  return commonPasswords;
}

const SERVICE_WORDS = ['gatehouse'];

/** Why a password cannot be used: `message` in English (for logs and tests), `words` for the page (locales/, `password.policy.*`). */
export type PasswordProblem = { message: string; words: Message };

const problem = (message: string, key: string, values?: Message['values']): PasswordProblem => ({
  message,
  words: values ? { key: `password.policy.${key}`, values } : { key: `password.policy.${key}` },
});

/** Returns why the password cannot be used, in English, or null when it can. */
export function passwordProblem(password: string, email: string): string | null {
  return passwordProblemOf(password, email)?.message ?? null;
}

/** Returns why the password cannot be used, in English and as words for the page, or null when it can. */
export function passwordProblemOf(password: string, email: string): PasswordProblem | null {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) {
    return problem(
      `Your password must be at least ${PASSWORD_MIN_LENGTH} characters long. A few ordinary words together make a good one.`,
      'tooShort',
      { min: PASSWORD_MIN_LENGTH },
    );
  }
  if (length > PASSWORD_MAX_LENGTH) {
    return problem(`Your password must be at most ${PASSWORD_MAX_LENGTH} characters long.`, 'tooLong', { max: PASSWORD_MAX_LENGTH });
  }
  const lower = password.toLowerCase();
  // Stryker disable next-line OptionalChaining: split always returns a first element; `?.` is for the type checker.
  const localPart = email.split('@')[0]?.toLowerCase() ?? '';
  if (localPart.length >= 3 && lower.includes(localPart))
    return problem('Your password must not contain your email address.', 'containsEmail');
  // Stryker disable next-line MethodExpression: with one word in the list, some() and every() agree.
  if (SERVICE_WORDS.some((word) => lower.includes(word))) {
    return problem('Your password must not contain the name of this service.', 'containsService');
  }
  if (isCommon(lower)) {
    return problem(
      'That password is on a list of common or breached passwords that attackers try first. Choose something less predictable.',
      'common',
    );
  }
  if (/^(.+?)\1+$/u.test(password)) return problem('Your password must not be the same few characters repeated.', 'repeated');
  return null;
}

/** The password itself, or the password with digits and symbols trimmed from its ends, is listed. */
function isCommon(lower: string): boolean {
  if (common().has(lower)) return true;
  const core = lower.replace(/^[^\p{L}]+|[^\p{L}]+$/gu, '');
  return core.length >= 4 && common().has(core);
}
