import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Failure counts live in PostgreSQL so every provider process sees the same count. */
export class AuthThrottle1764300000000 implements MigrationInterface {
  name = 'AuthThrottle1764300000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE auth_throttle (
        key text PRIMARY KEY,
        count integer NOT NULL,
        window_started_at timestamptz NOT NULL,
        locked_until timestamptz
      )`);
    await db.query(`CREATE INDEX auth_throttle_window ON auth_throttle (window_started_at)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE IF EXISTS auth_throttle`);
  }
}
