import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A person's language, for the mails sent when they are not on a page (NULL: not known yet, so
 * English); and the school system a reset link was asked for from, or the school that sent it
 * (a first-time email from its administrator), so the reset page and its mails carry that school's name.
 */
export class LanguageAndBranding1765500000000 implements MigrationInterface {
  name = 'LanguageAndBranding1765500000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE accounts ADD COLUMN IF NOT EXISTS language text CHECK (language IN ('en', 'cy'))`);
    await db.query(`ALTER TABLE password_reset_tokens ADD COLUMN IF NOT EXISTS client_id text`);
    await db.query(`ALTER TABLE password_reset_tokens ADD COLUMN IF NOT EXISTS school_id uuid REFERENCES schools (id) ON DELETE SET NULL`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE password_reset_tokens DROP COLUMN IF EXISTS school_id`);
    await db.query(`ALTER TABLE password_reset_tokens DROP COLUMN IF EXISTS client_id`);
    await db.query(`ALTER TABLE accounts DROP COLUMN IF EXISTS language`);
  }
}
