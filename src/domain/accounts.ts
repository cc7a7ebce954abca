import crypto from 'node:crypto';
import type { AccessLevel, Account } from '../db/entities/index.ts';
import type { Language } from '../i18n/languages.ts';
import type { Repositories, UnitOfWork } from '../db/repositories/index.ts';
import { ThrottleService } from '../auth/throttle.ts';
import { endSessions } from './access.ts';
import { notFound } from './errors.ts';
import { SchoolService } from './schools.ts';

export type MembershipGrant = { schoolId: string; accessLevel: AccessLevel };

export class AccountService {
  private readonly repositories: Repositories;
  private readonly transaction: UnitOfWork;

  constructor(repositories: Repositories, transaction: UnitOfWork) {
    this.repositories = repositories;
    this.transaction = transaction;
  }

  findByEmail(email: string): Promise<Account | null> {
    return this.repositories.accounts.findByEmail(email);
  }

  findById(id: string): Promise<Account | null> {
    return this.repositories.accounts.findById(id);
  }

  /** The language a person last read a page in is the language of their mails (DESIGN.md). */
  async rememberLanguage(account: Pick<Account, 'id' | 'language'>, language: Language): Promise<void> {
    if (account.language !== language) await this.repositories.accounts.setLanguage(account.id, language);
  }

  /** Creates the account (without a password) if the email is new, then adds the memberships. */
  addUser(input: { email: string; name?: string | undefined; memberships: MembershipGrant[] }): Promise<Account> {
    return this.transaction(async (repositories) => {
      await new SchoolService(repositories).requireAll(input.memberships.map((m) => m.schoolId));
      const account =
        (await repositories.accounts.findByEmail(input.email)) ??
        (await repositories.accounts.insert({ id: crypto.randomUUID(), email: input.email, name: input.name ?? null }));
      for (const membership of input.memberships) {
        await repositories.memberships.upsert(account.id, membership.schoolId, membership.accessLevel);
      }
      return account;
    });
  }

  /**
   * Unlocking also lifts every lock from failed attempts (short ones and those only the helpdesk
   * can lift, on every device); `released` says how many counters went. Locking also ends the
   * account's sessions and revokes its tokens, in one transaction.
   */
  setStatus(email: string, status: Account['status']): Promise<Account & { released: number }> {
    return this.transaction(async (repositories) => {
      const account = await repositories.accounts.findByEmail(email);
      if (!account) throw notFound(`No account has the email address ${email}.`);
      await repositories.accounts.setStatus(account.id, status);
      let released = 0;
      if (status === 'locked') await endSessions(repositories, account.id);
      else released = await new ThrottleService(repositories.throttle).release(account);
      return { ...account, status, released };
    });
  }
}
