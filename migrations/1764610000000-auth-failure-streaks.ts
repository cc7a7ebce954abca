import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Consecutive failures per factor (and per trusted device), kept apart from the 15-minute
 * windows in auth_throttle: they never expire with time. Only a success of that factor clears a
 * streak that is not locked; a locked one stays until the helpdesk's `user unlock`.
 */
export class AuthFailureStreaks1764610000000 implements MigrationInterface {
  name = 'AuthFailureStreaks1764610000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE auth_failure_streaks (
        key text PRIMARY KEY,
        count integer NOT NULL,
        last_failed_at timestamptz NOT NULL,
        locked_at timestamptz,
        warned_at timestamptz
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE IF EXISTS auth_failure_streaks`);
  }
}
