import type { CredentialCheck } from '../domain/authentication.ts';
import type { Confirmation } from '../domain/fresh-proof.ts';

export const WRONG_CODE = 'That code is not right, or it has been used already. Enter the 6-digit code your authenticator app shows now.';
export const WRONG_CREDENTIALS = 'The email address or password is not right. Check them and try again.';
const LOCKED = 'This account is locked. Ask your school’s IT helpdesk to unlock it.';
/** Said the same for an address nobody has, so it tells nothing about who has an account. */
export const BLOCKED =
  'Signing in here has been stopped, because too many wrong attempts were made in a row for this account. This protects the account. Ask your school’s IT helpdesk to unlock it. If you have signed in on this computer before, use it as usual.';

/** What a refused credential tells the person, and with which status. */
export function refusalOf(check: CredentialCheck | undefined, wrong = WRONG_CREDENTIALS): { message: string; status: number } {
  if (check?.ok === false && check.reason === 'throttled') {
    const until = check.lockedUntil.toISOString().slice(11, 16);
    return {
      message: `Too many wrong attempts. Signing in is paused until ${until} UTC. Try again then, or ask your school’s IT helpdesk.`,
      status: 429,
    };
  }
  if (check?.ok === false && check.reason === 'blocked') return { message: BLOCKED, status: 423 };
  if (check?.ok === false && check.reason === 'locked') return { message: LOCKED, status: 423 };
  return { message: wrong, status: 401 };
}

const MISSING_ANSWER = { password: 'Enter your password.', code: 'Enter the 6-digit code your authenticator app shows now.' };
const WRONG_ANSWER = { password: 'That password is not right.', code: WRONG_CODE };

/** What a refused "confirm it's you" tells the person, next to the field that was wrong. */
export function confirmationRefusal(outcome: Extract<Confirmation, { ok: false }>): { message: string; status: number } {
  if (!outcome.check) return { message: MISSING_ANSWER[outcome.field], status: 400 };
  return refusalOf(outcome.check, WRONG_ANSWER[outcome.field]);
}
