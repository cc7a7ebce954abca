import type { EntityManager } from 'typeorm';
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

  /** Email addresses are unique regardless of case (a unique index on lower(email)). */
  findByEmail(email: string): Promise<Account | null> {
    return this.repo
      .createQueryBuilder('account')
      .where('lower(account.email) = lower(:email)', { email })
      .getOne();
  }

  async insert(account: Pick<Account, 'id' | 'email' | 'name'>): Promise<Account> {
    return this.repo.save(this.repo.create({ ...account, status: 'active', passwordHash: null }));
  }

  async setPasswordHash(id: string, passwordHash: string): Promise<void> {
    await this.repo.update({ id }, { passwordHash, passwordChangedAt: new Date() });
  }

  async setStatus(id: string, status: AccountStatus): Promise<void> {
    await this.repo.update({ id }, { status });
  }
}
