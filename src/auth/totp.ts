import crypto from 'node:crypto';
// The only import of speakeasy: it does the RFC 6238 arithmetic and the otpauth URI, and could be
// swapped here alone. Secrets are NOT made by it (see newTotpSecret).
import speakeasy from 'speakeasy';

/** RFC 6238 as every authenticator app implements it: SHA1, 6 digits, 30-second steps. */
export const TOTP_PERIOD = 30;
const DIGITS = 6;
/** One step either side: tolerates 30 s of clock drift on the phone. */
const DRIFT_STEPS = 1;

/** RFC 4226 §4 asks for at least 128 bits of key and recommends 160: HMAC-SHA1's own size. */
export const SECRET_BYTES = 20;
const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * 160 uniformly random bits, base32-encoded. (speakeasy's generateSecret draws characters from a
 * biased alphabet and base32-encodes those, ~127 bits; its secrets still verify, below.)
 */
export function newTotpSecret(): string {
  return base32Encode(crypto.randomBytes(SECRET_BYTES));
}

/** RFC 4648 §6 base32, upper case, without `=` padding (as otpauth URIs carry it). */
export function base32Encode(bytes: Uint8Array): string {
  let output = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    // Stryker disable next-line EqualityOperator: `bits > 5` only defers a complete group to the next byte or the final flush; same output.
    while (bits >= 5) {
      output += BASE32_ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) output += BASE32_ALPHABET[(buffer << (5 - bits)) & 31];
  return output;
}

/** `issuer` is what the authenticator app shows above the code: SERVICE_NAME, which the code page names. */
export function otpauthUri(secret: string, accountEmail: string, issuer: string): string {
  return speakeasy.otpauthURL({
    secret,
    encoding: 'base32',
    // The key URI format: "issuer:account", each part URL-encoded (SERVICE_NAME may hold spaces or Welsh letters).
    label: `${encodeURIComponent(issuer)}:${encodeURIComponent(accountEmail)}`,
    issuer,
    algorithm: 'sha1',
    digits: DIGITS,
    period: TOTP_PERIOD,
  });
}

/** "JBSW Y3DP EHPK 3PXP" — easier to type into an app by hand. */
export function groupedSecret(secret: string): string {
  return secret.replace(/(.{4})/g, '$1 ').trim();
}

/**
 * Exactly six ASCII digits, nothing before or after: anything else is refused before it is
 * compared (timingSafeEqual throws on a length mismatch, e.g. for non-ASCII digits).
 */
export const isCodeShaped = (code: string) => /^[0-9]{6}$/.test(code);

/**
 * The time step a code belongs to, within the drift window, or null. Every candidate is
 * compared in constant time, and all of them are always computed.
 */
export function matchingStep(secret: string, code: string, now = Date.now()): number | null {
  if (!isCodeShaped(code)) return null;
  const current = Math.floor(now / 1000 / TOTP_PERIOD);
  let matched: number | null = null;
  for (let step = current - DRIFT_STEPS; step <= current + DRIFT_STEPS; step += 1) {
    const expected = speakeasy.totp({ secret, encoding: 'base32', time: step * TOTP_PERIOD, step: TOTP_PERIOD, digits: DIGITS });
    if (crypto.timingSafeEqual(Buffer.from(expected), Buffer.from(code)) && matched === null) matched = step;
  }
  return matched;
}
