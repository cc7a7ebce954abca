import crypto from 'node:crypto';
import type { StreakState, ThrottleStore, WindowState } from '../db/repositories/throttle.ts';
import { normaliseEmail } from './email-address.ts';

/**
 * The numbers (documented in README.md, "Guessing and lockout"). Counted in PostgreSQL, shared by
 * every process, each attempt counted before it is checked.
 * - Short term, per (client IP, account) for browsers the account has not signed in from, and per
 *   trusted device for those it has (OWASP's device cookies): from the 4th failure in 15 minutes
 *   each attempt waits 1, 2, 4 … up to 8 seconds; the 10th locks that pair (or that device) for
 *   15 minutes. Nothing is counted per IP alone: staff of a school share one public IP, and one
 *   pupil's guesses must not refuse anyone whose own account is not being guessed at.
 * - Long term, per account and factor (password, authenticator code): consecutive failures that
 *   only a success of that factor clears. Past 20 the person is mailed once; the 50th locks the
 *   factor for browsers without a device cookie until the helpdesk's `user unlock` (NIST SP
 *   800-63B §5.2.2 allows at most 100). A trusted device has a streak of its own with the same
 *   limit, so it is never refused because of failures from elsewhere, and is bounded too. Every
 *   failure, from any browser, also counts in the account's streak, and at 100 (`ceilingAfter`)
 *   that refuses trusted devices as well: however many browsers an account has signed in from,
 *   no more than 100 consecutive guesses are ever checked.
 * - Password emails, per address: 3 in 15 minutes and 10 in 24 hours; beyond that none is sent.
 */
export const THROTTLE = {
  windowSeconds: 15 * 60,
  delayAfter: 3,
  maxDelayMs: 8_000,
  lockAfter: 10,
  lockSeconds: 15 * 60,
  warnAfter: 20,
  blockAfter: 50,
  ceilingAfter: 100,
  forgetUnknownAfterDays: 30,
  resetEmailsPerAddress: 3,
  resetEmailsPerAddressPerDay: 10,
  dayWindowSeconds: 24 * 3600,
} as const;

export type Factor = 'password' | 'code';

/** Where an attempt comes from: a client IP, and the device id if this browser is trusted for the account. */
export type Source = { ip: string; device?: string | undefined };

export type Refusal = { allowed: false; kind: 'paused'; until: Date } | { allowed: false; kind: 'blocked' };
export type Gate = { allowed: true; delayMs: number } | Refusal;

const UNKNOWN_ADDRESS = 'login:';
/**
 * The start of every consecutive-failure key of an address with no account (only passwords are
 * tried for those, and never from a trusted device). No helpdesk unlock ever reaches them, so the
 * sweeper forgets those untouched for `forgetUnknownAfterDays`.
 */
export const UNKNOWN_ADDRESS_STREAKS = `password:${UNKNOWN_ADDRESS}`;

/**
 * Who is being guessed at. An existing account is counted by its id, so no spelling of its address
 * buys more guesses; an address with no account by its normalised form (the same function that
 * finds accounts), so it locks exactly the same way and a lock reveals nothing. That form is
 * hashed: keys stay short whatever NFKC makes of an address (one character can become 18), and
 * the table need not hold the addresses people mistyped.
 */
export const passwordSubject = (account: { id: string } | null, typed: string) =>
  account
    ? accountSubject(account.id)
    : `${UNKNOWN_ADDRESS}${crypto.createHash('sha256').update(normaliseEmail(typed)).digest('base64url')}`;
export const accountSubject = (accountId: string) => `account:${accountId}`;

/**
 * The counters one attempt touches. `window` holds the short-term count (per IP and subject, or
 * per trusted device); `streaks` are the consecutive counts it adds to; `guard` is the streak
 * whose lock refuses it: the subject's for an untrusted browser, the device's own for a trusted one.
 */
export function attemptKeys(factor: Factor, subject: string, source: Source) {
  const streak = `${factor}:${subject}`;
  if (source.device) {
    const own = `${streak}:device:${source.device}`;
    return { window: own, streaks: [streak, own], guard: own, streak };
  }
  return { window: `${streak}:ip:${source.ip}`, streaks: [streak], guard: streak, streak };
}

/** The password-email counters of one address (or account): a 15-minute and a 24-hour window. */
export const resetEmailKeys = (subject: string) => ({ short: `reset:${subject}:15m`, daily: `reset:${subject}:day` });

/** Every counter the helpdesk's unlock lifts for an account: both factors, every device. */
export const releaseKeys = (accountId: string) => [`password:${accountSubject(accountId)}`, `code:${accountSubject(accountId)}`];

/** 0 for the first `delayAfter` failures, then 1 s doubling up to the cap. */
export function delayAfterFailures(failuresBefore: number): number {
  if (failuresBefore < THROTTLE.delayAfter) return 0;
  return Math.min(1000 * 2 ** (failuresBefore - THROTTLE.delayAfter), THROTTLE.maxDelayMs);
}

/**
 * A lock already in place: a locked streak holds until released, a short lock until its time, and
 * the account's streak at the ceiling refuses every browser, trusted or not.
 */
export function standingRefusal(
  window: WindowState | undefined,
  guard: StreakState | undefined,
  account: StreakState | undefined,
  now: Date,
): Refusal | null {
  if (guard?.lockedAt) return { allowed: false, kind: 'blocked' };
  if ((account?.count ?? 0) >= THROTTLE.ceilingAfter) return { allowed: false, kind: 'blocked' };
  if (window?.lockedUntil && window.lockedUntil.getTime() > now.getTime())
    return { allowed: false, kind: 'paused', until: window.lockedUntil };
  return null;
}

/** After counting this attempt: refused when it is past a limit (attempts sent in parallel). */
export function refusalAfterCounting(window: WindowState, guard: StreakState, account: StreakState, now: Date): Refusal | null {
  if (guard.count > THROTTLE.blockAfter || account.count > THROTTLE.ceilingAfter) return { allowed: false, kind: 'blocked' };
  if (window.count > THROTTLE.lockAfter) {
    return { allowed: false, kind: 'paused', until: window.lockedUntil ?? new Date(now.getTime() + THROTTLE.lockSeconds * 1000) };
  }
  return null;
}

/** The Nth email in a window is sent while N is within the cap; the one after is not. */
export const emailAllowed = (short: WindowState, daily: WindowState) =>
  short.count <= THROTTLE.resetEmailsPerAddress && daily.count <= THROTTLE.resetEmailsPerAddressPerDay;

/**
 * Passkey assertions (a sign-in, the second step, "confirm it's you"). A passkey cannot be
 * guessed: each answer is a signature over a fresh challenge, and each attempt uses that
 * challenge up. What this bounds is one ceremony answered wrongly over and over (a probe of
 * credential ids, a script replaying answers), each refusal a signature check and an audit row:
 * `failuresPerCeremony` refusals in `windowSeconds` pause that ceremony for `pauseSeconds`.
 * Counted per ceremony (the interaction, or the session for a confirmation) and client IP, never
 * per IP alone: staff of a school share one public IP, and one pupil's posts must not take the
 * phishing-resistant sign-in from the whole staff room. Someone with a real passkey is refused
 * once or twice at most (a passkey removed from the account; a cancelled prompt posts nothing),
 * and the password stays open to them.
 */
export const PASSKEY_THROTTLE = { failuresPerCeremony: 10, windowSeconds: 15 * 60, pauseSeconds: 15 * 60 } as const;

/** The window of one passkey ceremony (purpose and binding) from one client IP. */
export const passkeyWindowKey = (purpose: string, binding: string, ip: string) => `passkey:${purpose}:${binding}:ip:${ip}`;

/** The passkey pause over a throttle store (see PASSKEY_THROTTLE): no streaks, no warnings, one window. */
export class PasskeyThrottle {
  private readonly store: Pick<ThrottleStore, 'readWindows' | 'countWindow'>;
  private readonly now: () => Date;

  constructor(store: Pick<ThrottleStore, 'readWindows' | 'countWindow'>, now = () => new Date()) {
    this.store = store;
    this.now = now;
  }

  /** Whether the ceremony is paused for this IP now. */
  async paused(key: string): Promise<boolean> {
    const until = (await this.store.readWindows([key])).get(key)?.lockedUntil;
    return Boolean(until && until.getTime() > this.now().getTime());
  }

  /** Counts a refused assertion; true when this one started the pause. */
  async failed(key: string): Promise<boolean> {
    const { windowSeconds, failuresPerCeremony, pauseSeconds } = PASSKEY_THROTTLE;
    const window = await this.store.countWindow(key, windowSeconds, failuresPerCeremony, pauseSeconds);
    return window.count === failuresPerCeremony;
  }
}

export type Failure = { refusal: Refusal | null; warn: boolean };

export class ThrottleService {
  private readonly store: ThrottleStore;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => Date;

  constructor(
    store: ThrottleStore,
    sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
    now = () => new Date(),
  ) {
    this.store = store;
    this.sleep = sleep;
    this.now = now;
  }

  /**
   * Before checking a credential: refuses while locked — even if the credential would be right —
   * then counts the attempt as a failure up front (success takes it back) and slows it.
   */
  async attempt(factor: Factor, subject: string, source: Source): Promise<Gate> {
    const keys = attemptKeys(factor, subject, source);
    const standing = await this.standing(keys);
    if (standing) return standing;
    const window = await this.store.countWindow(keys.window, THROTTLE.windowSeconds, THROTTLE.lockAfter, THROTTLE.lockSeconds);
    const counted = new Map<string, StreakState>();
    for (const key of keys.streaks) counted.set(key, await this.store.countStreak(key));
    const refusal = refusalAfterCounting(window, counted.get(keys.guard)!, counted.get(keys.streak)!, this.now());
    if (refusal) return refusal;
    const delayMs = delayAfterFailures(window.count - 1);
    if (delayMs > 0) await this.sleep(delayMs);
    return { allowed: true, delayMs };
  }

  /**
   * After a wrong credential (already counted): the lock it caused, if any, and whether the
   * person should now be told that someone is guessing (true once per streak, past `warnAfter`).
   */
  async failed(factor: Factor, subject: string, source: Source): Promise<Failure> {
    const keys = attemptKeys(factor, subject, source);
    // Locked on a failure, not when counted: the attempt that reaches the limit may still succeed.
    await this.store.lockStreaks(keys.streaks, THROTTLE.blockAfter);
    const refusal = await this.standing(keys);
    const warn = await this.store.claimWarning(keys.streak, THROTTLE.warnAfter);
    return { refusal, warn };
  }

  /** After a right credential: its window and streaks start again (a locked streak stays locked). */
  async succeeded(factor: Factor, subject: string, source: Source): Promise<void> {
    const keys = attemptKeys(factor, subject, source);
    await this.store.clearWindow(keys.window);
    for (const key of keys.streaks) await this.store.resetStreak(key);
  }

  /** The helpdesk's `user unlock`: lifts every lock and count of both factors, on every device. */
  async release(account: { id: string }): Promise<number> {
    return this.store.release(releaseKeys(account.id));
  }

  /** Whether another password email may be sent to this address now (counting this one). */
  async mayEmail(account: { id: string } | null, typed: string): Promise<boolean> {
    const keys = resetEmailKeys(passwordSubject(account, typed));
    const short = await this.store.countWindow(keys.short, THROTTLE.windowSeconds, null, 0);
    const daily = await this.store.countWindow(keys.daily, THROTTLE.dayWindowSeconds, null, 0);
    return emailAllowed(short, daily);
  }

  private async standing(keys: ReturnType<typeof attemptKeys>): Promise<Refusal | null> {
    const [windows, streaks] = await Promise.all([
      this.store.readWindows([keys.window]),
      this.store.readStreaks([keys.guard, keys.streak]),
    ]);
    return standingRefusal(windows.get(keys.window), streaks.get(keys.guard), streaks.get(keys.streak), this.now());
  }
}
