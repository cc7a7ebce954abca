import type { ThrottleRepository } from '../db/repositories/throttle.ts';

/**
 * The numbers (documented in README.md). Counted in PostgreSQL, shared by every process.
 * - Per login name (the email as typed, whether or not an account has it, so a lock tells
 *   nothing about existence): wrong passwords and wrong codes together. From the 4th failure in
 *   15 minutes each attempt waits 1, 2, 4 … up to 8 seconds; the 10th locks sign-in for 15 min.
 * - Per client IP: 50 failures in 15 minutes lock that IP out of sign-in for 15 minutes.
 * - Password emails: 3 per address and 20 per IP in 15 minutes; beyond that none is sent
 *   (the page says the same thing).
 * NIST SP 800-63B allows at most 100 consecutive failures; this stays far below.
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

const loginKey = (loginName: string) => `login:${loginName.trim().toLowerCase()}`;
const ipKey = (ip: string) => `ip:${ip}`;

export class ThrottleService {
  private readonly repository: ThrottleRepository;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(repository: ThrottleRepository, sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))) {
    this.repository = repository;
    this.sleep = sleep;
  }

  /** Before checking a credential: refused while locked (even if it would be right), else slowed. */
  async enter(loginName: string, ip: string): Promise<Gate> {
    const states = await this.repository.read([loginKey(loginName), ipKey(ip)]);
    const now = Date.now();
    const locks = [...states.values()].map((s) => s.lockedUntil).filter((d): d is Date => d !== null && d.getTime() > now);
    if (locks.length > 0) return { allowed: false, lockedUntil: new Date(Math.max(...locks.map((d) => d.getTime()))) };
    const failures = states.get(loginKey(loginName))?.count ?? 0;
    const delayMs = failures < THROTTLE.delayAfter ? 0 : Math.min(1000 * 2 ** (failures - THROTTLE.delayAfter), THROTTLE.maxDelayMs);
    if (delayMs > 0) await this.sleep(delayMs);
    return { allowed: true, delayMs };
  }

  /** After a wrong credential: counts it; returns the lock if this failure caused one. */
  async failed(loginName: string, ip: string): Promise<Date | null> {
    const login = await this.repository.increment(loginKey(loginName), THROTTLE.windowSeconds, THROTTLE.lockAfter, THROTTLE.lockSeconds);
    const address = await this.repository.increment(ipKey(ip), THROTTLE.windowSeconds, THROTTLE.ipLockAfter, THROTTLE.lockSeconds);
    const now = Date.now();
    return [login.lockedUntil, address.lockedUntil].find((d) => d !== null && d.getTime() > now) ?? null;
  }

  async succeeded(loginName: string): Promise<void> {
    await this.repository.clear(loginKey(loginName));
  }

  /** The helpdesk's `user unlock` also lifts a lock caused by failures. */
  async release(loginName: string): Promise<void> {
    await this.repository.clear(loginKey(loginName));
  }

  /** Whether another password email may be sent now (counting this one). */
  async mayEmail(address: string, ip: string): Promise<boolean> {
    const perAddress = await this.repository.increment(`reset:${address.trim().toLowerCase()}`, THROTTLE.windowSeconds, null, 0);
    const perIp = await this.repository.increment(`reset-ip:${ip}`, THROTTLE.windowSeconds, null, 0);
    return perAddress.count <= THROTTLE.resetEmailsPerAddress && perIp.count <= THROTTLE.resetEmailsPerIp;
  }
}
