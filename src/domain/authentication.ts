import { verifyPassword } from '../auth/passwords.ts';
import type { Account } from '../db/entities/index.ts';
import type { Repositories } from '../db/repositories/index.ts';

export type PasswordCheck = { ok: true; account: Account } | { ok: false; reason: 'invalid' | 'locked' };

export class AuthenticationService {
  private readonly repositories: Repositories;

  constructor(repositories: Repositories) {
    this.repositories = repositories;
  }

  /** Unknown email, no password yet and a wrong password all answer 'invalid' after the same work. */
  async checkPassword(email: string, password: string): Promise<PasswordCheck> {
    const account = await this.repositories.accounts.findByEmail(email);
    const matches = await verifyPassword(account?.passwordHash ?? null, password);
    if (!account || !matches) return { ok: false, reason: 'invalid' };
    if (account.status === 'locked') return { ok: false, reason: 'locked' };
    return { ok: true, account };
  }
}
