import type { CredentialCheck } from '../domain/authentication.ts';
import type { Confirmation } from '../domain/fresh-proof.ts';
import type { Message } from '../i18n/words.ts';

/** The English of each refusal (tests and logs use it); pages say `words` (locales/*\/signin.json, `signin.refusal.*`). */
export const WRONG_CODE = 'That code is not right, or it has been used already. Enter the 6-digit code your authenticator app shows now.';
export const WRONG_CREDENTIALS = 'The email address or password is not right. Check them and try again.';
const LOCKED = 'This account is locked. Ask your school’s IT helpdesk to unlock it.';
/** Said the same for an address nobody has, so it tells nothing about who has an account. */
export const BLOCKED =
  'Signing in here has been stopped, because too many wrong attempts were made in a row for this account. This protects the account. Ask your school’s IT helpdesk to unlock it. If you have signed in on this computer before, use it as usual.';

/** A refusal: `words` for the page (in the reader's language, with `say`), `message` in English, and the status. */
export type Refusal = { words: Message; message: string; status: number };

type Wrong = { words: Message; message: string };
const WRONG: Record<'credentials' | 'code' | 'password', Wrong> = {
  credentials: { words: { key: 'signin.refusal.wrongCredentials' }, message: WRONG_CREDENTIALS },
  code: { words: { key: 'signin.refusal.wrongCode' }, message: WRONG_CODE },
  password: { words: { key: 'signin.refusal.wrongPassword' }, message: 'That password is not right.' },
};

/**
 * What a refused credential tells the person, and with which status. A pause names the time it
 * ends as a Date (`values.time`): `say` puts it in UK time, in the page's language.
 */
export function refusalOf(check: CredentialCheck | undefined, wrong: 'credentials' | 'code' | 'password' = 'credentials'): Refusal {
  if (check?.ok === false && check.reason === 'throttled') {
    return {
      words: { key: 'signin.refusal.throttled', values: { time: check.lockedUntil } },
      message: `Too many wrong attempts. Signing in is paused until ${check.lockedUntil.toISOString().slice(11, 16)} UTC. Try again then, or ask your school’s IT helpdesk.`,
      status: 429,
    };
  }
  if (check?.ok === false && check.reason === 'blocked') return { words: { key: 'signin.refusal.blocked' }, message: BLOCKED, status: 423 };
  if (check?.ok === false && check.reason === 'locked') return { words: { key: 'signin.refusal.locked' }, message: LOCKED, status: 423 };
  return { ...WRONG[wrong], status: 401 };
}

const MISSING_ANSWER: Record<'password' | 'code', Wrong> = {
  password: { words: { key: 'signin.refusal.missingPassword' }, message: 'Enter your password.' },
  code: { words: { key: 'signin.refusal.missingCode' }, message: 'Enter the 6-digit code your authenticator app shows now.' },
};

/** What a refused "confirm it's you" tells the person, next to the field that was wrong. */
export function confirmationRefusal(outcome: Extract<Confirmation, { ok: false }>): Refusal {
  if (!outcome.check) return { ...MISSING_ANSWER[outcome.field], status: 400 };
  return refusalOf(outcome.check, outcome.field);
}
