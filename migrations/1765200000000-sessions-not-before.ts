import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * When the account's sessions were last ended (password reset, `user lock`, `user mfa-reset`).
 * Deleting session rows alone is not enough: a request in flight saves the session it loaded and
 * puts the row back. A session (or device cookie) from before this time counts for nothing.
 */
export class SessionsNotBefore1765200000000 implements MigrationInterface {
  name = 'SessionsNotBefore1765200000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE accounts ADD COLUMN sessions_not_before timestamptz`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE accounts DROP COLUMN IF EXISTS sessions_not_before`);
  }
}
