import crypto from 'node:crypto';

const digest = (value: string) => crypto.createHash('sha256').update(value, 'utf8').digest();

/**
 * Compares a received value with the expected one without telling, through timing, how much of
 * it matched. Hashing first gives both sides 32 bytes, so any input can be compared:
 * timingSafeEqual throws on unequal lengths, and strings of equal length in characters can
 * differ in bytes ("é" is two).
 */
export function sameSecret(received: string, expected: string): boolean {
  return crypto.timingSafeEqual(digest(received), digest(expected));
}
