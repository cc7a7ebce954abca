import type { MigrationInterface, QueryRunner } from 'typeorm';
import { normaliseEmail } from '../src/auth/email-address.ts';

/**
 * Addresses are compared by one normalisation (NFKC + one case fold, computed in JavaScript),
 * not by PostgreSQL's `lower()`, which folds some letters (`İ`) differently from the code that
 * keys the throttle. The normalised value is stored, backfilled here, and unique.
 */
export class EmailNormalised1764600000000 implements MigrationInterface {
  name = 'EmailNormalised1764600000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE accounts ADD COLUMN email_normalised text`);
    const accounts: Array<{ id: string; email: string }> = await db.query(`SELECT id, email FROM accounts`);
    const owners = new Map<string, string>();
    for (const { id, email } of accounts) {
      const normalised = normaliseEmail(email);
      const other = owners.get(normalised);
      if (other) {
        // Two accounts that are one address under the new rule: the helpdesk must decide which stays.
        throw new Error(
          `Accounts ${other} and ${id} have the same email address once normalised (${normalised}); merge or rename one, then start again.`,
        );
      }
      owners.set(normalised, id);
      await db.query(`UPDATE accounts SET email_normalised = $2 WHERE id = $1`, [id, normalised]);
    }
    await db.query(`ALTER TABLE accounts ALTER COLUMN email_normalised SET NOT NULL`);
    await db.query(`CREATE UNIQUE INDEX accounts_email_normalised ON accounts (email_normalised)`);
    await db.query(`DROP INDEX IF EXISTS accounts_email_ci`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP INDEX IF EXISTS accounts_email_normalised`);
    await db.query(`ALTER TABLE accounts DROP COLUMN IF EXISTS email_normalised`);
    await db.query(`CREATE UNIQUE INDEX accounts_email_ci ON accounts (lower(email))`);
  }
}
