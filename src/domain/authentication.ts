import type { Logger } from 'pino';
import { needsRehash, hashPassword, verifyPassword } from '../auth/passwords.ts';
import { accountSubject, passwordSubject, THROTTLE, type Factor, type Source, type ThrottleService } from '../auth/throttle.ts';
import { DEFAULT_PASSWORD_HASH, type PasswordHashCost } from '../config/password-hash.ts';
import type { Account } from '../db/entities/index.ts';
import type { Repositories } from '../db/repositories/index.ts';
import { languageOfMail, type Mailer } from '../mail/mailer.ts';
import { isUsable, trustedSince } from './access.ts';
import type { AuditService, RequestContext } from './audit.ts';
import type { AuthenticatorService } from './authenticators.ts';
import { BackgroundWork } from './background.ts';
import type { BackupCodeSpender } from './backup-codes.ts';

/**
 * `trustBrowser`: the sign-in is complete with this check (a right code, or a right password for
 * an account with no device), so the browser may now get a device cookie for the account.
 * `blocked`: too many consecutive failures; only the helpdesk can lift it.
 */
export type CredentialCheck =
  | { ok: true; account: Account; trustBrowser: boolean; deviceId?: string }
  | { ok: false; reason: 'invalid' | 'locked' | 'blocked' }
  | { ok: false; reason: 'throttled'; lockedUntil: Date };

/** `detail`: what the audit event says beyond the outcome, read once the check is done. */
type Guarded = {
  event: string;
  factor: Factor;
  subject: string;
  loginName: string;
  known?: Account | undefined;
  detail?: () => Record<string, unknown> | undefined;
};

/** A right backup code's check says how many are left. */
export type BackupCodeCheck = Exclude<CredentialCheck, { ok: true }> | (Extract<CredentialCheck, { ok: true }> & { left: number });

/**
 * Every check of a credential goes through here, so every one is counted and slowed the same
 * way (per account and IP or trusted device, across processes) and a lock holds even for the
 * right answer.
 */
export class AuthenticationService {
  private readonly repositories: Repositories;
  private readonly throttle: ThrottleService;
  private readonly authenticators: AuthenticatorService;
  private readonly audit: AuditService;
  private readonly mailer: Mailer;
  private readonly background: BackgroundWork;
  private readonly logger: Logger;
  private readonly passwordHash: PasswordHashCost;
  private readonly backupCodes: BackupCodeSpender | undefined;

  /** `backupCodes`: where backup codes are spent; only tests of the other checks leave it out. */
  constructor(
    repositories: Repositories,
    throttle: ThrottleService,
    authenticators: AuthenticatorService,
    audit: AuditService,
    mailer: Mailer,
    logger: Logger,
    passwordHash: PasswordHashCost = DEFAULT_PASSWORD_HASH,
    backupCodes?: BackupCodeSpender,
  ) {
    this.repositories = repositories;
    this.throttle = throttle;
    this.authenticators = authenticators;
    this.audit = audit;
    this.mailer = mailer;
    this.background = new BackgroundWork(logger);
    this.logger = logger;
    this.passwordHash = passwordHash;
    this.backupCodes = backupCodes;
  }

  /** Unknown email, no password yet and a wrong password all answer 'invalid' after the same work. */
  async checkPassword(email: string, password: string, where: RequestContext): Promise<CredentialCheck> {
    const account = await this.repositories.accounts.findByEmail(email);
    const guarded = {
      event: 'sign_in.password',
      factor: 'password' as const,
      subject: passwordSubject(account, email),
      loginName: email,
      known: account ?? undefined,
    };
    const result = await this.guarded(guarded, where, () => this.verifyPassword(account, password));
    // A password completes the sign-in only for an account with no second factor (else one follows).
    if (result.ok && (await this.authenticators.hasSecondFactor(result.account.id))) return { ...result, trustBrowser: false };
    return result;
  }

  /** Re-confirming the password of a signed-in person (e.g. to remove a device). */
  async checkPasswordOf(account: Account, password: string, where: RequestContext): Promise<CredentialCheck> {
    const guarded = {
      event: 'reauth.password',
      factor: 'password' as const,
      subject: accountSubject(account.id),
      loginName: account.email,
      known: account,
    };
    const result = await this.guarded(guarded, where, () => this.verifyPassword(account, password));
    return result.ok ? { ...result, trustBrowser: false } : result;
  }

  /** A right code's check says which device it came from. */
  async checkCode(account: Account, code: string, where: RequestContext): Promise<CredentialCheck> {
    let deviceId: string | null = null;
    const verify = async () => {
      deviceId = await this.authenticators.verifyCode(account.id, code);
      return deviceId ? account : null;
    };
    // Codes are counted per account, apart from passwords: a known password cannot reset them.
    const guarded = {
      event: 'sign_in.code',
      factor: 'code' as const,
      subject: accountSubject(account.id),
      loginName: account.email,
      known: account,
    };
    const check = await this.guarded(guarded, where, verify);
    // Stryker disable next-line LogicalOperator: verify returns the account only with a device id, and a failed check never sets one.
    return check.ok && deviceId ? { ...check, deviceId } : check;
  }

  /**
   * A backup code in place of an authenticator code: counted with codes (factor 'code', per
   * account), so it buys no guesses of its own and shares their pauses, blocks and warnings. A
   * right one is spent (once only, whatever runs at the same time), the audit event says how many
   * are left, and so does a mail to the person.
   */
  async checkBackupCode(account: Account, code: string, where: RequestContext): Promise<BackupCodeCheck> {
    let left: number | undefined;
    const verify = async () => {
      if (!this.backupCodes) throw new Error('Backup codes are not available to this service.');
      // A locked account keeps its codes: a right one is still right (and refused as locked, as a
      // right password is), but one spent here would be gone when the account is unlocked, unmailed.
      if (!isUsable(account)) return (await this.backupCodes.isUnused(account, code)) ? account : null;
      left = (await this.backupCodes.spend(account, code))?.left;
      return left === undefined ? null : account;
    };
    const guarded = {
      event: 'sign_in.backup_code',
      factor: 'code' as const,
      subject: accountSubject(account.id),
      loginName: account.email,
      known: account,
      detail: () => (left === undefined ? undefined : { left }),
    };
    const check = await this.guarded(guarded, where, verify);
    if (!check.ok) return check;
    // Right means spent: verify answered the account only once it knew how many were left.
    const remaining = left!;
    await this.backupCodes!.notifyUsed(check.account, remaining, where);
    return { ...check, left: remaining };
  }

  /**
   * A right password whose stored hash has another cost than PASSWORD_HASH is hashed again at
   * this cost, after the answer (the person does not wait for a second hash).
   */
  private async verifyPassword(account: Account | null, password: string): Promise<Account | null> {
    const stored = account?.passwordHash ?? null;
    if (!(await verifyPassword(stored, password, this.passwordHash))) return null;
    if (account && stored && needsRehash(stored, this.passwordHash)) {
      this.background.run('could not upgrade a password hash', async () => {
        const upgraded = await this.repositories.accounts.upgradePasswordHash(
          account.id,
          stored,
          await hashPassword(password, this.passwordHash),
        );
        if (upgraded) this.logger.info({ accountId: account.id }, 'password hash upgraded to the configured cost');
      });
    }
    return account;
  }

  /** Resolves once every warning mail and hash upgrade started in the background is done (shutdown). */
  async drain(): Promise<void> {
    await this.background.drain();
  }

  private async guarded(what: Guarded, where: RequestContext, verify: () => Promise<Account | null>): Promise<CredentialCheck> {
    // A device cookie counts only for the account it was issued to, and only if issued since its
    // sessions were last ended (a reset, lock or mfa-reset also ends a thief's trusted browser).
    const device = what.known
      ? where.devices?.find((trusted) => trusted.accountId === what.known!.id && trustedSince(what.known!, trusted.issuedAt))?.id
      : undefined;
    const source: Source = { ip: where.ip, device };
    const result = await this.check(what, source, where, verify);
    const account = result.ok ? result.account : what.known;
    await this.audit.record({
      event: what.event,
      outcome: result.ok ? 'success' : 'failure',
      reason: result.ok ? undefined : result.reason,
      accountId: account?.id,
      email: what.loginName,
      clientId: where.clientId,
      ip: where.ip,
      detail: detailOf(device, what.detail?.()),
    });
    return result;
  }

  private async check(
    what: Guarded,
    source: Source,
    where: RequestContext,
    verify: () => Promise<Account | null>,
  ): Promise<CredentialCheck> {
    const gate = await this.throttle.attempt(what.factor, what.subject, source);
    if (!gate.allowed)
      return gate.kind === 'blocked' ? { ok: false, reason: 'blocked' } : { ok: false, reason: 'throttled', lockedUntil: gate.until };
    const account = await verify();
    if (!account) {
      const failure = await this.throttle.failed(what.factor, what.subject, source);
      if (failure.warn && what.known) this.warnInBackground(what.known, what.factor, where);
      if (!failure.refusal) return { ok: false, reason: 'invalid' };
      return failure.refusal.kind === 'blocked'
        ? { ok: false, reason: 'blocked' }
        : { ok: false, reason: 'throttled', lockedUntil: failure.refusal.until };
    }
    await this.throttle.succeeded(what.factor, what.subject, source);
    if (!isUsable(account)) return { ok: false, reason: 'locked' };
    return { ok: true, account, trustBrowser: true };
  }

  /**
   * Tells the person, once per run of failures, that someone is guessing. Not awaited: the
   * answer must take as long for an account as for an address nobody has. The mail is in the
   * language of the attempt's page and comes from the school whose sign-in it was.
   */
  private warnInBackground(account: Account, factor: Factor, where: RequestContext): void {
    this.background.run('could not send the guessing warning', () => this.warn(account, factor, where));
  }

  private async warn(account: Account, factor: Factor, where: RequestContext): Promise<void> {
    await this.mailer.send({
      to: account.email,
      template: 'guessing-warning',
      language: languageOfMail(account, where),
      schoolName: where.schoolName,
      data: { name: account.name, email: account.email, code: factor === 'code', failures: THROTTLE.warnAfter, limit: THROTTLE.blockAfter },
    });
    await this.audit.record({
      event: 'guessing.warning_sent',
      outcome: 'success',
      accountId: account.id,
      email: account.email,
      detail: { factor },
    });
  }
}

/** The audit detail of a check: whether it came from a trusted browser, and what the check adds. */
function detailOf(device: string | undefined, more: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!device && !more) return undefined;
  return { ...(device ? { trustedDevice: true } : {}), ...more };
}
