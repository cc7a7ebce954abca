import crypto from 'node:crypto';
import type { Context, Next } from 'koa';
import { PageError } from './page-error.ts';

const COOKIE = 'gatehouse.csrf';

/**
 * Double-submit token bound to a per-browser random cookie: the form carries
 * HMAC(key, cookie), which another site can neither read nor compute. Stateless, so it works
 * across provider processes without a session store (koa-csrf would need one).
 */
export function createCsrf(key: Buffer) {
  const sign = (nonce: string) => crypto.createHmac('sha256', key).update(nonce).digest('base64url');

  function tokenFor(ctx: Context): string {
    let nonce = ctx.cookies.get(COOKIE);
    if (!nonce || !/^[A-Za-z0-9_-]{43}$/.test(nonce)) {
      nonce = crypto.randomBytes(32).toString('base64url');
      ctx.cookies.set(COOKIE, nonce, { httpOnly: true, sameSite: 'lax', secure: ctx.secure, path: '/', overwrite: true });
    }
    return sign(nonce);
  }

  function isValid(ctx: Context, submitted: unknown): boolean {
    const nonce = ctx.cookies.get(COOKIE);
    if (!nonce || typeof submitted !== 'string') return false;
    const expected = Buffer.from(sign(nonce));
    const actual = Buffer.from(submitted);
    return actual.length === expected.length && crypto.timingSafeEqual(actual, expected);
  }

  /** Rejects any POST whose form does not carry the token for this browser's cookie. */
  async function verify(ctx: Context, next: Next) {
    if (ctx.method === 'POST' && !isValid(ctx, (ctx.request.body as Record<string, unknown> | undefined)?._csrf)) {
      throw new PageError(403, 'formExpired');
    }
    await next();
  }

  return { tokenFor, verify };
}

export type Csrf = ReturnType<typeof createCsrf>;
