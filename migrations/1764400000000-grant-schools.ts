import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Which school a person chose for a client that serves several of theirs, per grant. */
export class GrantSchools1764400000000 implements MigrationInterface {
  name = 'GrantSchools1764400000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE grant_schools (
        grant_id text PRIMARY KEY,
        school_id uuid NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
        chosen_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE IF EXISTS grant_schools`);
  }
}
