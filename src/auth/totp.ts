import crypto from 'node:crypto';
import speakeasy from 'speakeasy';

/** RFC 6238 as every authenticator app implements it: SHA1, 6 digits, 30-second steps. */
export const TOTP_PERIOD = 30;
const DIGITS = 6;
/** One step either side: tolerates 30 s of clock drift on the phone. */
const DRIFT_STEPS = 1;

export function newTotpSecret(): string {
  return speakeasy.generateSecret({ length: 20 }).base32;
}

export function otpauthUri(secret: string, accountEmail: string): string {
  return speakeasy.otpauthURL({
    secret,
    encoding: 'base32',
    label: `Gatehouse:${accountEmail}`,
    issuer: 'Gatehouse',
    algorithm: 'sha1',
    digits: DIGITS,
    period: TOTP_PERIOD,
  });
}

/** "JBSW Y3DP EHPK 3PXP" — easier to type into an app by hand. */
export function groupedSecret(secret: string): string {
  return secret.replace(/(.{4})/g, '$1 ').trim();
}

export const isCodeShaped = (code: string) => /^\d{6}$/.test(code);

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
