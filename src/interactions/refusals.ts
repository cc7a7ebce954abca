import type { CredentialCheck } from '../domain/authentication.ts';
import type { Confirmation } from '../domain/fresh-proof.ts';
import type { Message } from '../i18n/words.ts';

/**
 * A refused credential: the words for the page (locales/*\/signin.json, `signin.refusal.*`, said in
 * the reader's language with `say`) and the status. "blocked" is said the same for an address
 * nobody has, so it tells nothing about who has an account.
 */
export type Refusal = { words: Message; status: number };

const WRONG: Record<'credentials' | 'code' | 'password', Message> = {
  credentials: { key: 'signin.refusal.wrongCredentials' },
  code: { key: 'signin.refusal.wrongCode' },
  password: { key: 'signin.refusal.wrongPassword' },
};

/** What a refused credential tells the person, and with which status. A pause names its end as a Date: `say` puts it in UK time. */
export function refusalOf(check: CredentialCheck | undefined, wrong: 'credentials' | 'code' | 'password' = 'credentials'): Refusal {
  if (check?.ok === false && check.reason === 'throttled') {
    return { words: { key: 'signin.refusal.throttled', values: { time: check.lockedUntil } }, status: 429 };
  }
  if (check?.ok === false && check.reason === 'blocked') return { words: { key: 'signin.refusal.blocked' }, status: 423 };
  if (check?.ok === false && check.reason === 'locked') return { words: { key: 'signin.refusal.locked' }, status: 423 };
  return { words: WRONG[wrong], status: 401 };
}

const MISSING_ANSWER: Record<'password' | 'code', Message> = {
  password: { key: 'signin.refusal.missingPassword' },
  code: { key: 'signin.refusal.missingCode' },
};

/** What a refused "confirm it's you" tells the person, next to the field that was wrong. */
export function confirmationRefusal(outcome: Extract<Confirmation, { ok: false }>): Refusal {
  if (!outcome.check) return { words: MISSING_ANSWER[outcome.field], status: 400 };
  return refusalOf(outcome.check, outcome.field);
}

/** The code refusals that name the authenticator app, and their words for a field that takes backup codes only. */
const AS_BACKUP_CODE: Record<string, string> = {
  'signin.refusal.missingCode': 'recovery.signIn.missing',
  'signin.refusal.wrongCode': 'recovery.signIn.wrongCode',
};

/**
 * A refusal of a code field where only a backup code can be typed ("Use a backup code", or
 * "confirm it's you" for an account without an authenticator app): said as a backup code, not as
 * "the 6-digit code your app shows". Pauses and locks are said as they are.
 */
export function asBackupCodeRefusal(refusal: Refusal): Refusal {
  const instead = AS_BACKUP_CODE[refusal.words.key];
  return instead ? { ...refusal, words: { ...refusal.words, key: instead } } : refusal;
}
