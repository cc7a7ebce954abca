import type { Logger } from 'pino';
import type { SecretBox } from '../auth/secret-box.ts';
import type { Account } from '../db/entities/index.ts';
import type { BackupCodeSummary } from '../db/repositories/backup-codes.ts';
import type { Repositories, UnitOfWork } from '../db/repositories/index.ts';
import type { Mailer } from '../mail/mailer.ts';
import type { AuditService, RequestContext } from './audit.ts';

export const BACKUP_CODE_COUNT = 10;

/**
 * Backup codes (DESIGN.md "Recovery and passkeys"): ten single-use codes shown once, kept only as
 * keyed hashes; a new set voids the old. One stands in for an authenticator code.
 * SKELETON: implemented by the backup-codes work (see /work/wt/prompts/13-backup-codes.md).
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

  constructor(deps: BackupCodeService['deps']) {
    this.deps = deps;
  }

  /** How many are left and when they were made. */
  summary(accountId: string): Promise<BackupCodeSummary> {
    return this.deps.repositories.backupCodes.summary(accountId);
  }

  /** A new set of BACKUP_CODE_COUNT codes, in the form shown to the person; the old ones stop working. */
  async create(_account: Account, _where: RequestContext): Promise<string[]> {
    throw new Error('not implemented yet');
  }

  /** Spends the code if it is one of the account's unused ones; how many are left after, or null if it is not. */
  async spend(_account: Account, _code: string): Promise<{ left: number } | null> {
    throw new Error('not implemented yet');
  }
}
