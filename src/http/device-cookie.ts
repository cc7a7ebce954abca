import crypto from 'node:crypto';
import type { Context, Next } from 'koa';

/** A browser an account has fully signed in from before (OWASP's "device cookie"). */
export type TrustedDevice = { id: string; accountId: string };

const COOKIE = 'gatehouse.device';
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
 */
export function createDeviceCookies(csrfKey: Buffer, now = () => Date.now()) {
  const key = Buffer.from(crypto.hkdfSync('sha256', csrfKey, Buffer.alloc(0), 'gatehouse device cookie', 32));
  const sign = (payload: string) => crypto.createHmac('sha256', key).update(payload).digest('base64url');
  const format = ({ id, accountId, expires }: TrustedDevice & { expires: number }) => {
    const payload = `${id}.${accountId}.${expires}`;
    return `${payload}.${sign(payload)}`;
  };

  function parse(entry: string): (TrustedDevice & { expires: number }) | null {
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
    return raw.split('~').slice(0, MAX_ACCOUNTS).map(parse).filter((entry) => entry !== null);
  }

  /** Puts the verified devices where `requestContext` finds them. */
  async function middleware(ctx: Context, next: Next) {
    ctx.state.trustedDevices = read(ctx).map(({ id, accountId }): TrustedDevice => ({ id, accountId }));
    await next();
  }

  /** After a complete sign-in: trust this browser for the account (keeping its device id if it had one). */
  function trust(ctx: Context, accountId: string) {
    const entries = read(ctx);
    const id = entries.find((entry) => entry.accountId === accountId)?.id ?? crypto.randomBytes(16).toString('base64url');
    const expires = Math.floor(now() / 1000) + LIFETIME_SECONDS;
    const others = entries.filter((entry) => entry.accountId !== accountId).slice(-(MAX_ACCOUNTS - 1));
    const value = [...others, { id, accountId, expires }].map(format).join('~');
    ctx.cookies.set(COOKIE, value, {
      httpOnly: true,
      sameSite: 'strict',
      secure: ctx.secure,
      path: '/',
      maxAge: LIFETIME_SECONDS * 1000,
      overwrite: true,
    });
  }

  return { middleware, trust };
}

export type DeviceCookies = ReturnType<typeof createDeviceCookies>;

/** The devices the middleware verified for this request (none outside our pages). */
export const trustedDevicesOf = (ctx: Context): TrustedDevice[] => (ctx.state.trustedDevices as TrustedDevice[] | undefined) ?? [];
