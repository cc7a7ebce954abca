import { base32Encode, matchingStep, newTotpSecret, SECRET_BYTES, TOTP_PERIOD } from '../src/auth/totp.ts';
import { base32Decode, totp } from './support/totp.ts';

/**
 * Unit tests of the one module that wraps speakeasy. Codes are computed by the independent
 * RFC 6238 implementation in support/totp.ts, never by speakeasy itself.
 */

/** Made by speakeasy.generateSecret({ length: 20 }).base32, as every device enrolled before 2026-11. */
const SPEAKEASY_SECRET = 'PE2XQOK6OZIFISKUKUQTAUBVIZIWGJCT';
const NOW = Date.UTC(2026, 10, 26, 9, 30, 10);
const stepAt = (time: number) => Math.floor(time / 1000 / TOTP_PERIOD);
const codeAt = (secret: string, time: number) => totp(base32Decode(secret), time);

test('base32 is RFC 4648 §10 exactly, without padding', () => {
  const vectors: Array<[string, string]> = [
    ['', ''],
    ['f', 'MY'],
    ['fo', 'MZXQ'],
    ['foo', 'MZXW6'],
    ['foob', 'MZXW6YQ'],
    ['fooba', 'MZXW6YTB'],
    ['foobar', 'MZXW6YTBOI'],
  ];
  for (const [plain, encoded] of vectors) expect(base32Encode(Buffer.from(plain))).toBe(encoded);
  const bytes = Buffer.from([0x00, 0xff, 0x80, 0x7f, 0x01, 0xfe, 0x10, 0xef, 0x55, 0xaa]);
  expect(base32Decode(base32Encode(bytes))).toEqual(bytes);
});

test('a new secret is 20 uniformly random bytes, not printable characters re-encoded', () => {
  const secrets = Array.from({ length: 64 }, () => newTotpSecret());
  for (const secret of secrets) expect(secret).toMatch(/^[A-Z2-7]{32}$/);
  expect(new Set(secrets).size).toBe(secrets.length);
  const bytes = Buffer.concat(secrets.map(base32Decode));
  expect(bytes.length).toBe(64 * SECRET_BYTES);
  // speakeasy's secrets decode to ASCII letters and symbols only (every byte < 0x80): 1,280
  // random bytes all below 0x80 would happen with probability 2^-1280.
  expect(bytes.some((byte) => byte >= 0x80)).toBe(true);
  expect(bytes.some((byte) => byte < 0x20)).toBe(true);
});

test('a new secret verifies codes from an independent RFC 6238 app, one step of drift either way', () => {
  const secret = newTotpSecret();
  const current = stepAt(NOW);
  for (const offset of [-1, 0, 1]) {
    expect(matchingStep(secret, codeAt(secret, NOW + offset * TOTP_PERIOD * 1000), NOW)).toBe(current + offset);
  }
  for (const offset of [-3, -2, 2, 3]) {
    const code = codeAt(secret, NOW + offset * TOTP_PERIOD * 1000);
    const alsoNear = [-1, 0, 1].some((near) => codeAt(secret, NOW + near * TOTP_PERIOD * 1000) === code);
    if (!alsoNear) expect(matchingStep(secret, code, NOW)).toBeNull();
  }
});

test('a device enrolled with a speakeasy-made secret keeps working', () => {
  expect(matchingStep(SPEAKEASY_SECRET, codeAt(SPEAKEASY_SECRET, NOW), NOW)).toBe(stepAt(NOW));
  expect(matchingStep(SPEAKEASY_SECRET, codeAt(SPEAKEASY_SECRET, NOW + 30_000), NOW)).toBe(stepAt(NOW) + 1);
});

test('anything but exactly six ASCII digits is refused before any comparison, without throwing', () => {
  const secret = newTotpSecret();
  const right = codeAt(secret, NOW);
  const fullWidth = [...right].map((digit) => String.fromCharCode(0xff10 + Number(digit))).join('');
  const arabicIndic = [...right].map((digit) => String.fromCharCode(0x0660 + Number(digit))).join('');
  const malformed = [
    '',
    right.slice(0, 5),
    `${right}0`,
    `0${right}`,
    `${right}\n`,
    `\n${right}`,
    ` ${right}`,
    `${right} `,
    fullWidth,
    arabicIndic,
    `${right.slice(0, 5)}a`,
    `+${right.slice(1)}`,
    `${right.slice(0, 3)} ${right.slice(3)}`,
    `${right.slice(0, 5)}\u0000`,
    `${right}${right}`,
    '12345é',
    '١٢٣٤٥٦',
  ];
  for (const code of malformed) expect(() => matchingStep(secret, code, NOW)).not.toThrow();
  for (const code of malformed) expect(matchingStep(secret, code, NOW)).toBeNull();
  expect(matchingStep(secret, right, NOW)).toBe(stepAt(NOW));
});
