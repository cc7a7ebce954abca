import crypto from 'node:crypto';
import type { Logger } from 'pino';
import type { SecretBox } from '../auth/secret-box.ts';
import type { Account } from '../db/entities/index.ts';
import type { BackupCodeSummary } from '../db/repositories/backup-codes.ts';
import type { Repositories, UnitOfWork } from '../db/repositories/index.ts';
import { type Mailer, sendAccountNotice } from '../mail/mailer.ts';
import type { AuditService, RequestContext } from './audit.ts';
import { conflict, validationError } from './errors.ts';

export const BACKUP_CODE_COUNT = 10;
export const BACKUP_CODE_LENGTH = 10;
/**
 * Lower-case letters and digits, without the ones read or typed as one another (0 o, 1 l i):
 * 31 symbols, so a code holds about 49.5 bits, far beyond what the code throttle lets anyone try.
 */
export const BACKUP_CODE_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

const SHAPE = new RegExp(`^[${BACKUP_CODE_ALPHABET}]{${BACKUP_CODE_LENGTH}}$`);
/** Longer than any way of writing a code (spaces between every character included): not one. */
const LONGEST_TYPED = 64;

/**
 * A code as typed (any case, with spaces or hyphens anywhere) in the one form it is hashed in,
 * or null when it cannot be a backup code at all.
 */
export function normaliseBackupCode(typed: string): string | null {
  if (typed.length > LONGEST_TYPED) return null;
  // Stryker disable next-line Regex: removing separators one at a time or in runs is the same.
  const code = typed.toLowerCase().replace(/[\s-]+/g, '');
  return SHAPE.test(code) ? code : null;
}

/** `xxxxx-xxxxx`: two groups are easier to read out, copy and type than ten characters in a row. */
export const formatBackupCode = (code: string) => `${code.slice(0, 5)}-${code.slice(5)}`;

function newCode(): string {
  let code = '';
  for (let i = 0; i < BACKUP_CODE_LENGTH; i += 1) code += BACKUP_CODE_ALPHABET[crypto.randomInt(BACKUP_CODE_ALPHABET.length)];
  return code;
}

/** BACKUP_CODE_COUNT different codes (the table's key would refuse a repeated one). */
function newCodes(): string[] {
  const codes = new Set<string>();
  while (codes.size < BACKUP_CODE_COUNT) codes.add(newCode());
  return [...codes];
}

/**
 * Backup codes stand in for a second factor, so they live only while the account has one: when
 * the last device or passkey goes, so do the codes (else they would come back to life with the
 * next device, long after the person forgot them). Answers how many unused codes were voided.
 */
export async function voidBackupCodesWithoutSecondFactor(
  repositories: Pick<Repositories, 'authenticators' | 'backupCodes'>,
  accountId: string,
): Promise<number> {
  // Counted under the account's lock (call in the removal's transaction): see lockAccount.
  await repositories.backupCodes.lockAccount(accountId);
  if ((await repositories.authenticators.countSecondFactors(accountId)) > 0) return 0;
  return repositories.backupCodes.deleteAllFor(accountId);
}

/**
 * Which set of codes a page was shown with: 'none', or when the set was made. A request to make
 * a new set names the one it means to replace, so that a second post from the same page (a
 * double click, a reload, the back button) does not quietly void the codes the first just showed.
 */
export const backupCodeSetOf = (summary: BackupCodeSummary) => (summary.createdAt ? String(summary.createdAt.getTime()) : 'none');

const needSecondFactor = () =>
  validationError('Add an authenticator device or a passkey before creating backup codes.', 'backupCodes', {
    key: 'recovery.section.needSecondFactor',
  });

const replacedAlready = () =>
  conflict('These backup codes were replaced already: the new ones were shown once.', { key: 'recovery.create.alreadyShown' });

/** What spending a backup code can do: the narrow view the credential checks need. */
export type BackupCodeSpender = Pick<BackupCodeService, 'spend' | 'isUnused' | 'notifyUsed'>;

/**
 * Backup codes (DESIGN.md "Recovery and passkeys"): ten single-use codes shown once, kept only as
 * keyed hashes; a new set voids the old. One stands in for an authenticator code.
 *
 * Each is kept as HMAC-SHA256 under a key derived from the key store's, over the account id and
 * the code: the table alone (a backup, a leaked dump) cannot be searched offline for the codes,
 * and the same code on two accounts is stored differently.
 */
export class BackupCodeService {
  protected readonly deps: {
    repositories: Repositories;
    transaction: UnitOfWork;
    box: SecretBox;
    mailer: Mailer;
    logger: Logger;
    audit: AuditService;
  };
  #key: Buffer | undefined;

  constructor(deps: BackupCodeService['deps']) {
    this.deps = deps;
  }

  /** How many are left and when they were made. */
  summary(accountId: string): Promise<BackupCodeSummary> {
    return this.deps.repositories.backupCodes.summary(accountId);
  }

  /**
   * A new set of BACKUP_CODE_COUNT codes, in the form shown to the person; the old ones stop
   * working, used or not, in the same transaction. The caller has checked fresh proof. Codes
   * stand in for a second factor, so an account needs one first. `replacing` (see
   * backupCodeSetOf), when given, must still be the account's set, else a conflict.
   *
   * Both are read under the account's lock, in the transaction that writes: read before it, a
   * factor removed meanwhile would leave codes with nothing to stand in for, and two posts from
   * one page would each make a set, the first shown and already void.
   */
  async create(account: Account, where: RequestContext, replacing?: string): Promise<string[]> {
    const { transaction, audit } = this.deps;
    const codes = newCodes();
    const hashes = codes.map((code) => this.hash(account.id, code));
    await transaction(async (scoped) => {
      await scoped.backupCodes.lockAccount(account.id);
      if (replacing !== undefined && replacing !== backupCodeSetOf(await scoped.backupCodes.summary(account.id))) throw replacedAlready();
      if ((await scoped.authenticators.countSecondFactors(account.id)) === 0) throw needSecondFactor();
      await scoped.backupCodes.replaceAll(account.id, hashes);
    });
    await audit.record({
      event: 'backup_codes.create',
      outcome: 'success',
      accountId: account.id,
      email: account.email,
      clientId: where.clientId,
      ip: where.ip,
      detail: { count: codes.length },
    });
    await this.mail(account, where, 'backup-codes-created', {});
    return codes.map(formatBackupCode);
  }

  /**
   * Spends the code if it is one of the account's unused ones; how many are left after, or null
   * if it is not. Anything that cannot be a code is refused before the database is asked; of two
   * requests spending one code at once, the conditional update lets exactly one through.
   */
  async spend(account: Account, code: string): Promise<{ left: number } | null> {
    const normalised = normaliseBackupCode(code);
    if (!normalised) return null;
    const { backupCodes } = this.deps.repositories;
    if (!(await backupCodes.spend(account.id, this.hash(account.id, normalised)))) return null;
    return { left: (await backupCodes.summary(account.id)).left };
  }

  /**
   * Whether the code is one of the account's unused ones, leaving it unused (for an account that
   * may not sign in, whose codes must outlive the check): the same hash and the same "unused"
   * condition as the spend, only read.
   */
  async isUnused(account: Account, code: string): Promise<boolean> {
    const normalised = normaliseBackupCode(code);
    return normalised ? this.deps.repositories.backupCodes.isUnused(account.id, this.hash(account.id, normalised)) : false;
  }

  /**
   * Tells the person a code was used and how many are left (none: make new ones), in the language
   * of the page it was used on, from the school whose sign-in it was. Failures are logged: the
   * sign-in it tells about has already happened.
   */
  async notifyUsed(account: Account, left: number, where: RequestContext): Promise<void> {
    await this.mail(account, where, 'backup-code-used', { left });
  }

  private hash(accountId: string, normalised: string): string {
    this.#key ??= this.deps.box.deriveKey('backup-codes');
    return crypto.createHmac('sha256', this.#key).update(`${accountId}:${normalised}`).digest('base64url');
  }

  private mail(
    account: Account,
    where: RequestContext,
    template: 'backup-codes-created' | 'backup-code-used',
    data: Record<string, unknown>,
  ) {
    return sendAccountNotice(this.deps.mailer, this.deps.logger, { account, template, where, data });
  }
}
