import type { MigrationInterface, QueryRunner } from 'typeorm';
import { normaliseEmail } from '../src/auth/email-address.ts';

/**
 * `audit --email` finds the events typed with an address by the one normalisation every other
 * lookup uses (computed in JavaScript), not PostgreSQL's `lower()`: the normalised form is stored
 * beside what was typed, and backfilled here.
 */
export class AuditEmailNormalised1765210000000 implements MigrationInterface {
  name = 'AuditEmailNormalised1765210000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE audit_events ADD COLUMN email_normalised text`);
    const typed: Array<{ email: string }> = await db.query(`SELECT DISTINCT email FROM audit_events WHERE email IS NOT NULL`);
    for (const { email } of typed) {
      await db.query(`UPDATE audit_events SET email_normalised = $2 WHERE email = $1`, [email, normaliseEmail(email)]);
    }
    await db.query(`CREATE INDEX audit_events_email_normalised ON audit_events (email_normalised, at DESC)`);
    await db.query(`DROP INDEX IF EXISTS audit_events_email`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP INDEX IF EXISTS audit_events_email_normalised`);
    await db.query(`ALTER TABLE audit_events DROP COLUMN IF EXISTS email_normalised`);
    await db.query(`CREATE INDEX audit_events_email ON audit_events (lower(email), at DESC)`);
  }
}
