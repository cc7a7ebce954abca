import crypto from 'node:crypto';
import jsQRModule from 'jsqr';
import { PNG } from 'pngjs';

// jsqr is CommonJS whose module.exports is the function; its types describe an ES default export.
const jsQR = jsQRModule as unknown as typeof jsQRModule.default;

/**
 * An independent RFC 6238 implementation (not speakeasy), written from the RFC, so the tests
 * prove that codes from any standard authenticator app are accepted.
 */
export function base32Decode(input: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const clean = input.replace(/[\s=]/g, '').toUpperCase();
  let bits = '';
  for (const char of clean) {
    const value = alphabet.indexOf(char);
    if (value < 0) throw new Error(`Not base32: ${char}`);
    bits += value.toString(2).padStart(5, '0');
  }
  const bytes = bits.match(/.{8}/g) ?? [];
  return Buffer.from(bytes.map((byte) => parseInt(byte, 2)));
}

export function totp(key: Buffer, timeMs: number, { digits = 6, period = 30, algorithm = 'sha1' } = {}): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(timeMs / 1000 / period)));
  const hmac = crypto.createHmac(algorithm, key).update(counter).digest();
  const offset = hmac[hmac.length - 1]! & 0x0f;
  const binary = hmac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/** The code an authenticator app would show for this otpauth secret, `offsetSteps` steps from now. */
export function codeFor(secretBase32: string, offsetSteps = 0): string {
  return totp(base32Decode(secretBase32), Date.now() + offsetSteps * 30_000);
}

/** Reads a QR code out of PNG bytes, as a phone's camera would. */
export function decodeQrPng(png: Buffer): string {
  const image = PNG.sync.read(png);
  const result = jsQR(new Uint8ClampedArray(image.data), image.width, image.height);
  if (!result) throw new Error('No QR code found in the image');
  return result.data;
}

export function decodeQrDataUrl(dataUrl: string): string {
  const match = /^data:image\/png;base64,(.+)$/.exec(dataUrl);
  if (!match) throw new Error(`Not a PNG data URL: ${dataUrl.slice(0, 40)}`);
  return decodeQrPng(Buffer.from(match[1]!, 'base64'));
}

export type OtpauthParameters = {
  label: string;
  secret: string;
  issuer: string | null;
  algorithm: string | null;
  digits: string | null;
  period: string | null;
};

export function parseOtpauth(uri: string): OtpauthParameters {
  const url = new URL(uri);
  if (url.protocol !== 'otpauth:' || url.host !== 'totp') throw new Error(`Not a TOTP otpauth URI: ${uri}`);
  return {
    label: decodeURIComponent(url.pathname.slice(1)),
    secret: url.searchParams.get('secret') ?? '',
    issuer: url.searchParams.get('issuer'),
    algorithm: url.searchParams.get('algorithm'),
    digits: url.searchParams.get('digits'),
    period: url.searchParams.get('period'),
  };
}
