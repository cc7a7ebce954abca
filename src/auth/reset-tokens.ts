import crypto from 'node:crypto';

/** 256 random bits, sent only in the email; the database keeps a SHA-256 of it. */
export function newResetToken(): { token: string; hash: string } {
  const token = crypto.randomBytes(32).toString('base64url');
  return { token, hash: hashResetToken(token) };
}

export function hashResetToken(token: string): string {
  return crypto.createHash('sha256').update(token, 'utf8').digest('hex');
}

export const RESET_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;
