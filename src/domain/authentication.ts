import { verifyPassword } from '../auth/passwords.ts';
import { codeSubject, passwordSubject, type ThrottleService } from '../auth/throttle.ts';
import type { Account } from '../db/entities/index.ts';
import type { Repositories } from '../db/repositories/index.ts';
import { isUsable } from './access.ts';
import type { AuditService, RequestContext } from './audit.ts';
import type { AuthenticatorService } from './authenticators.ts';

export type CredentialCheck =
  | { ok: true; account: Account; deviceId?: string }
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
  private readonly audit: AuditService;

  constructor(repositories: Repositories, throttle: ThrottleService, authenticators: AuthenticatorService, audit: AuditService) {
    this.repositories = repositories;
    this.throttle = throttle;
    this.authenticators = authenticators;
    this.audit = audit;
  }

  /** Unknown email, no password yet and a wrong password all answer 'invalid' after the same work. */
  async checkPassword(email: string, password: string, where: RequestContext): Promise<CredentialCheck> {
    const account = await this.repositories.accounts.findByEmail(email);
    return this.guarded('sign_in.password', passwordSubject(account, email), email, where, async () => {
      const matches = await verifyPassword(account?.passwordHash ?? null, password);
      return account && matches ? account : null;
    });
  }

  /** Re-confirming the password of a signed-in person (e.g. to remove a device). */
  async checkPasswordOf(account: Account, password: string, where: RequestContext): Promise<CredentialCheck> {
    return this.guarded('reauth.password', passwordSubject(account, account.email), account.email, where, async () => ((await verifyPassword(account.passwordHash, password)) ? account : null), account);
  }

  /** A right code's check says which device it came from. */
  async checkCode(account: Account, code: string, where: RequestContext): Promise<CredentialCheck> {
    let deviceId: string | null = null;
    const verify = async () => ((deviceId = await this.authenticators.verifyCode(account.id, code)) ? account : null);
    // Codes are counted per account, apart from passwords: a known password cannot reset them.
    const check = await this.guarded('sign_in.code', codeSubject(account.id), account.email, where, verify, account);
    return check.ok && deviceId ? { ...check, deviceId } : check;
  }

  private async guarded(
    event: string,
    subject: string,
    loginName: string,
    where: RequestContext,
    verify: () => Promise<Account | null>,
    known?: Account,
  ): Promise<CredentialCheck> {
    const result = await this.check(subject, where.ip, verify);
    const account = result.ok ? result.account : known;
    await this.audit.record({
      event,
      outcome: result.ok ? 'success' : 'failure',
      reason: result.ok ? undefined : result.reason,
      accountId: account?.id,
      email: loginName,
      clientId: where.clientId,
      ip: where.ip,
    });
    return result;
  }

  private async check(subject: string, ip: string, verify: () => Promise<Account | null>): Promise<CredentialCheck> {
    const gate = await this.throttle.attempt(subject, ip);
    if (!gate.allowed) return { ok: false, reason: 'throttled', lockedUntil: gate.lockedUntil };
    const account = await verify();
    if (!account) {
      const lockedUntil = await this.throttle.lockOf(subject, ip);
      return lockedUntil ? { ok: false, reason: 'throttled', lockedUntil } : { ok: false, reason: 'invalid' };
    }
    await this.throttle.succeeded(subject, ip);
    if (!isUsable(account)) return { ok: false, reason: 'locked' };
    return { ok: true, account };
  }
}
