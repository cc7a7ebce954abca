import type { ThrottleRepository } from '../db/repositories/throttle.ts';
import { normaliseEmail } from './email-address.ts';

/**
 * The numbers (documented in README.md). Counted in PostgreSQL, shared by every process.
 * - Per subject, with two subjects kept apart: the login name (the email as typed, whether or
 *   not an account has it, so a lock tells nothing about existence) for passwords, and the
 *   account for authenticator codes (only a right code clears it, so a known password cannot
 *   reset the count of guessed codes). From the 4th failure in 15 minutes each attempt waits
 *   1, 2, 4 … up to 8 seconds; the 10th failure locks that subject for 15 minutes.
 * - Per client IP: 50 failures in 15 minutes lock that IP out of sign-in for 15 minutes.
 * - Password emails: 3 per address and 20 per IP in 15 minutes; beyond that none is sent
 *   (the page says the same thing).
 * Every attempt is counted before it is checked, so attempts sent in parallel cannot all slip
 * in under the limit. NIST SP 800-63B allows at most 100 consecutive failures; this stays far below.
 */
export const THROTTLE = {
  windowSeconds: 15 * 60,
  delayAfter: 3,
  maxDelayMs: 8_000,
  lockAfter: 10,
  lockSeconds: 15 * 60,
  ipLockAfter: 50,
  resetEmailsPerAddress: 3,
  resetEmailsPerIp: 20,
} as const;

export type Gate = { allowed: true; delayMs: number } | { allowed: false; lockedUntil: Date };

/**
 * Who is being guessed at. An existing account is counted by its id, so no spelling of its address
 * buys more guesses; an address with no account by its normalised form (the same function that
 * finds accounts), so it locks exactly the same way and a lock reveals nothing.
 */
export const passwordSubject = (account: { id: string } | null, typed: string) =>
  account ? `account:${account.id}` : `login:${normaliseEmail(typed)}`;
export const codeSubject = (accountId: string) => `code:${accountId}`;
const ipKey = (ip: string) => `ip:${ip}`;

export class ThrottleService {
  private readonly repository: ThrottleRepository;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(repository: ThrottleRepository, sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))) {
    this.repository = repository;
    this.sleep = sleep;
  }

  /**
   * Before checking a credential: counts the attempt as a failure up front (success takes it
   * back), refuses while locked — even if the credential would be right — and otherwise slows.
   */
  async attempt(subject: string, ip: string): Promise<Gate> {
    const existing = activeLock([...(await this.repository.read([subject, ipKey(ip)])).values()].map((s) => s.lockedUntil));
    if (existing) return { allowed: false, lockedUntil: existing };
    const counted = await this.repository.increment(subject, THROTTLE.windowSeconds, THROTTLE.lockAfter, THROTTLE.lockSeconds);
    const address = await this.repository.increment(ipKey(ip), THROTTLE.windowSeconds, THROTTLE.ipLockAfter, THROTTLE.lockSeconds);
    if (counted.count > THROTTLE.lockAfter || address.count > THROTTLE.ipLockAfter) {
      return { allowed: false, lockedUntil: activeLock([counted.lockedUntil, address.lockedUntil]) ?? new Date(Date.now() + THROTTLE.lockSeconds * 1000) };
    }
    const failuresBefore = counted.count - 1;
    const delayMs = failuresBefore < THROTTLE.delayAfter ? 0 : Math.min(1000 * 2 ** (failuresBefore - THROTTLE.delayAfter), THROTTLE.maxDelayMs);
    if (delayMs > 0) await this.sleep(delayMs);
    return { allowed: true, delayMs };
  }

  /** After a wrong credential (already counted): the lock it caused, if any. */
  async lockOf(subject: string, ip: string): Promise<Date | null> {
    return activeLock([...(await this.repository.read([subject, ipKey(ip)])).values()].map((s) => s.lockedUntil));
  }

  /** After a right credential: the subject starts again, and the attempt no longer counts against the IP. */
  async succeeded(subject: string, ip: string): Promise<void> {
    await this.repository.clear(subject);
    await this.repository.decrement(ipKey(ip));
  }

  /** The helpdesk's `user unlock` lifts locks caused by failed passwords and codes. */
  async release(account: { id: string }): Promise<void> {
    await this.repository.clear(passwordSubject(account, ''));
    await this.repository.clear(codeSubject(account.id));
  }

  /** Whether another password email may be sent now (counting this one), per mailbox and per IP. */
  async mayEmail(account: { id: string } | null, typed: string, ip: string): Promise<boolean> {
    const perAddress = await this.repository.increment(`reset:${passwordSubject(account, typed)}`, THROTTLE.windowSeconds, null, 0);
    const perIp = await this.repository.increment(`reset-ip:${ip}`, THROTTLE.windowSeconds, null, 0);
    return perAddress.count <= THROTTLE.resetEmailsPerAddress && perIp.count <= THROTTLE.resetEmailsPerIp;
  }
}

function activeLock(locks: Array<Date | null>): Date | null {
  const now = Date.now();
  const active = locks.filter((lock): lock is Date => lock !== null && lock.getTime() > now);
  return active.length > 0 ? new Date(Math.max(...active.map((lock) => lock.getTime()))) : null;
}
