import type { EntityManager } from 'typeorm';
import type { Language } from '../../i18n/languages.ts';
import { normaliseEmail } from '../../auth/email-address.ts';
import { AccountEntity, type Account, type AccountStatus } from '../entities/index.ts';

export class AccountsRepository {
  private readonly db: EntityManager;

  constructor(db: EntityManager) {
    this.db = db;
  }

  private get repo() {
    return this.db.getRepository(AccountEntity);
  }

  findById(id: string): Promise<Account | null> {
    return this.repo.findOneBy({ id });
  }

  /** Addresses are unique once normalised (a unique index on email_normalised); never by PostgreSQL's lower(). */
  findByEmail(email: string): Promise<Account | null> {
    return this.repo.findOneBy({ emailNormalised: normaliseEmail(email) });
  }

  async insert(account: Pick<Account, 'id' | 'email' | 'name'>): Promise<Account> {
    return this.repo.save(
      this.repo.create({ ...account, emailNormalised: normaliseEmail(account.email), status: 'active', passwordHash: null }),
    );
  }

  async setPasswordHash(id: string, passwordHash: string): Promise<void> {
    await this.repo.update({ id }, { passwordHash, passwordChangedAt: new Date() });
  }

  /**
   * The same password at a new hash cost: not a password change (nothing it ends or dates), and
   * only if the hash is still the one that was verified, so it never undoes a reset made meanwhile.
   */
  async upgradePasswordHash(id: string, verifiedHash: string, upgradedHash: string): Promise<boolean> {
    const result = await this.repo.update({ id, passwordHash: verifiedHash }, { passwordHash: upgradedHash });
    return (result.affected ?? 0) > 0;
  }

  /**
   * From now on, no earlier session counts. The database clock, read when this statement runs
   * (not when the transaction began), so it is as late as the change that caused it.
   */
  async setSessionsNotBefore(id: string): Promise<void> {
    await this.db.query(`UPDATE accounts SET sessions_not_before = clock_timestamp() WHERE id = $1`, [id]);
  }

  /** Remembers the language a person reads in; a no-op when it is already that one. */
  async setLanguage(id: string, language: Language): Promise<void> {
    await this.db.query(`UPDATE accounts SET language = $2 WHERE id = $1 AND language IS DISTINCT FROM $2`, [id, language]);
  }

  async setStatus(id: string, status: AccountStatus): Promise<void> {
    await this.repo.update({ id }, { status });
  }
}
