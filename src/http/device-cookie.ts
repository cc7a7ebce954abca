import crypto from 'node:crypto';
import type { Context, Next } from 'koa';

/**
 * A browser an account has fully signed in from before (OWASP's "device cookie"); `issuedAt`
 * (seconds) is when, so a cookie from before the account's sessions were ended can be ignored.
 */
export type TrustedDevice = { id: string; accountId: string; issuedAt: number };

/**
 * Under an https ISSUER the `__Host-` prefix: the browser keeps it only if Secure, for path=/ and
 * this host alone, so no sibling host or plain-http page can plant or shadow it. Plain http
 * (development) cannot have it.
 */
const cookieName = (secure: boolean) => (secure ? '__Host-gatehouse.device' : 'gatehouse.device');
const LIFETIME_SECONDS = 180 * 24 * 3600;
/** A shared staff-room computer can be trusted for a few accounts at once; the oldest goes first. */
const MAX_ACCOUNTS = 5;
const ENTRY = /^([A-Za-z0-9_-]{22})\.([0-9a-f-]{36})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})$/;

/**
 * Device cookies: `<device id>.<account id>.<expiry>.<HMAC>` entries in one HttpOnly,
 * SameSite=Strict cookie, signed with a key derived from the CSRF key (so every process has it
 * and nothing new has to be stored). A valid entry for an account gives that browser a guessing
 * budget of its own, so attempts from elsewhere cannot lock its owner out. The signature and
 * expiry are checked here; which account it counts for is the authentication service's rule.
 * `secure`: the ISSUER is https.
 */
export function createDeviceCookies(csrfKey: Buffer, now = () => Date.now(), { secure = false } = {}) {
  const COOKIE = cookieName(secure);
  const key = Buffer.from(crypto.hkdfSync('sha256', csrfKey, Buffer.alloc(0), 'gatehouse device cookie', 32));
  const sign = (payload: string) => crypto.createHmac('sha256', key).update(payload).digest('base64url');
  const format = ({ id, accountId, expires }: { id: string; accountId: string; expires: number }) => {
    const payload = `${id}.${accountId}.${expires}`;
    return `${payload}.${sign(payload)}`;
  };

  function parse(entry: string): (Omit<TrustedDevice, 'issuedAt'> & { expires: number }) | null {
    const match = ENTRY.exec(entry);
    if (!match) return null;
    const [, id, accountId, expires, signature] = match as unknown as [string, string, string, string, string];
    const expected = Buffer.from(sign(`${id}.${accountId}.${expires}`));
    if (!crypto.timingSafeEqual(Buffer.from(signature), expected)) return null;
    if (Number(expires) * 1000 <= now()) return null;
    return { id, accountId, expires: Number(expires) };
  }

  /** The valid entries this browser presents (at most a few, so a huge cookie costs little). */
  function read(ctx: Context) {
    const raw = ctx.cookies.get(COOKIE) ?? '';
    return raw
      .split('~')
      .slice(0, MAX_ACCOUNTS)
      .map(parse)
      .filter((entry) => entry !== null);
  }

  /** Puts the verified devices where `requestContext` finds them. */
  async function middleware(ctx: Context, next: Next) {
    // The cookie holds its expiry; it was issued one lifetime before.
    ctx.state.trustedDevices = read(ctx).map(
      ({ id, accountId, expires }): TrustedDevice => ({ id, accountId, issuedAt: expires - LIFETIME_SECONDS }),
    );
    await next();
  }

  /**
   * After a complete sign-in: trust this browser for the account (keeping its device id if it had
   * one). `issuedAt` (seconds) is the sign-in's own time, which may be just after now (see loginTsFor).
   */
  function trust(ctx: Context, accountId: string, issuedAt = Math.floor(now() / 1000)) {
    const entries = read(ctx);
    const id = entries.find((entry) => entry.accountId === accountId)?.id ?? crypto.randomBytes(16).toString('base64url');
    const expires = issuedAt + LIFETIME_SECONDS;
    const others = entries.filter((entry) => entry.accountId !== accountId).slice(-(MAX_ACCOUNTS - 1));
    const value = [...others, { id, accountId, expires }].map(format).join('~');
    const attributes = { httpOnly: true, sameSite: 'strict', path: '/', maxAge: LIFETIME_SECONDS * 1000, overwrite: true } as const;
    if (!secure) {
      ctx.cookies.set(COOKIE, value, { ...attributes, secure: ctx.secure });
      return;
    }
    // The ISSUER is https, so the browser speaks TLS even when a proxy forwards plain http
    // without TRUST_PROXY; koa would refuse a Secure cookie on what it takes for plain http.
    const seen = ctx.cookies.secure;
    ctx.cookies.secure = true;
    try {
      ctx.cookies.set(COOKIE, value, { ...attributes, secure: true });
    } finally {
      ctx.cookies.secure = seen;
    }
  }

  return { middleware, trust };
}

export type DeviceCookies = ReturnType<typeof createDeviceCookies>;

/** The devices the middleware verified for this request (none outside our pages). */
export const trustedDevicesOf = (ctx: Context): TrustedDevice[] => (ctx.state.trustedDevices as TrustedDevice[] | undefined) ?? [];
