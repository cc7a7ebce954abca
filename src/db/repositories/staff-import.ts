import type { EntityManager } from 'typeorm';
import { normaliseEmail } from '../../auth/email-address.ts';
import type { AccessLevel } from '../entities/index.ts';

/** An account an import names, and its place at the school, if any. */
export type KnownAccount = {
  accountId: string;
  emailNormalised: string;
  hasPassword: boolean;
  /** The level at the school, or null when the account is not on its staff. */
  level: AccessLevel | null;
};

/** A staff import's reads and writes in bulk: one statement each, whatever the number of rows. */
export class StaffImportRepository {
  private readonly db: EntityManager;

  constructor(db: EntityManager) {
    this.db = db;
  }

  /** The accounts with these normalised addresses, by normalised address, with their level at the school. */
  async known(schoolId: string, normalisedEmails: readonly string[]): Promise<Map<string, KnownAccount>> {
    const rows: Array<{ id: string; email_normalised: string; has_password: boolean; access_level: AccessLevel | null }> =
      await this.db.query(
        `SELECT a.id, a.email_normalised, a.password_hash IS NOT NULL AS has_password, m.access_level
           FROM accounts a LEFT JOIN memberships m ON m.account_id = a.id AND m.school_id = $1
          WHERE a.email_normalised = ANY($2::text[])`,
        [schoolId, normalisedEmails],
      );
    return new Map(
      rows.map((row) => [
        row.email_normalised,
        { accountId: row.id, emailNormalised: row.email_normalised, hasPassword: row.has_password, level: row.access_level },
      ]),
    );
  }

  /** New accounts, active and without a password (the first-time email sets one). */
  async insertAccounts(accounts: ReadonlyArray<{ id: string; email: string; name: string | null }>): Promise<void> {
    if (accounts.length === 0) return;
    await this.db.query(
      `INSERT INTO accounts (id, email, email_normalised, name, status)
       SELECT id, email, email_normalised, name, 'active'
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS t (id, email, email_normalised, name)`,
      [
        accounts.map((account) => account.id),
        accounts.map((account) => account.email),
        accounts.map((account) => normaliseEmail(account.email)),
        accounts.map((account) => account.name),
      ],
    );
  }

  /** Each account on the school's staff at its level: added when absent, the level set when present. */
  async setLevels(schoolId: string, levels: ReadonlyArray<{ accountId: string; level: AccessLevel }>): Promise<void> {
    if (levels.length === 0) return;
    await this.db.query(
      `INSERT INTO memberships (account_id, school_id, access_level)
       SELECT account_id, $1, access_level FROM unnest($2::uuid[], $3::text[]) AS t (account_id, access_level)
       ON CONFLICT (account_id, school_id) DO UPDATE SET access_level = EXCLUDED.access_level`,
      [schoolId, levels.map((entry) => entry.accountId), levels.map((entry) => entry.level)],
    );
  }
}
