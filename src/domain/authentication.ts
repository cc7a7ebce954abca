import { verifyPassword } from '../auth/passwords.ts';
import type { ThrottleService } from '../auth/throttle.ts';
import type { Account } from '../db/entities/index.ts';
import type { Repositories } from '../db/repositories/index.ts';
import type { AuthenticatorService } from './authenticators.ts';

export type CredentialCheck =
  | { ok: true; account: Account }
  | { ok: false; reason: 'invalid' | 'locked' }
  | { ok: false; reason: 'throttled'; lockedUntil: Date };

/**
 * Every check of a credential goes through here, so every one is counted and slowed the same
 * way (per login name and per IP, across processes) and a lock holds even for the right answer.
 */
export class AuthenticationService {
  private readonly repositories: Repositories;
  private readonly throttle: ThrottleService;
  private readonly authenticators: AuthenticatorService;

  constructor(repositories: Repositories, throttle: ThrottleService, authenticators: AuthenticatorService) {
    this.repositories = repositories;
    this.throttle = throttle;
    this.authenticators = authenticators;
  }

  /** Unknown email, no password yet and a wrong password all answer 'invalid' after the same work. */
  async checkPassword(email: string, password: string, ip: string): Promise<CredentialCheck> {
    return this.guarded(email, ip, async () => {
      const account = await this.repositories.accounts.findByEmail(email);
      const matches = await verifyPassword(account?.passwordHash ?? null, password);
      return account && matches ? account : null;
    });
  }

  async checkPasswordOf(account: Account, password: string, ip: string): Promise<CredentialCheck> {
    return this.guarded(account.email, ip, async () => ((await verifyPassword(account.passwordHash, password)) ? account : null));
  }

  async checkCode(account: Account, code: string, ip: string): Promise<CredentialCheck> {
    return this.guarded(account.email, ip, async () => ((await this.authenticators.verifyCode(account.id, code)) ? account : null));
  }

  private async guarded(loginName: string, ip: string, verify: () => Promise<Account | null>): Promise<CredentialCheck> {
    const gate = await this.throttle.enter(loginName, ip);
    if (!gate.allowed) return { ok: false, reason: 'throttled', lockedUntil: gate.lockedUntil };
    const account = await verify();
    if (!account) {
      const lockedUntil = await this.throttle.failed(loginName, ip);
      return lockedUntil ? { ok: false, reason: 'throttled', lockedUntil } : { ok: false, reason: 'invalid' };
    }
    await this.throttle.succeeded(loginName);
    if (account.status === 'locked') return { ok: false, reason: 'locked' };
    return { ok: true, account };
  }
}
