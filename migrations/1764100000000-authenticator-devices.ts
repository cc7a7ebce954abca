import type { MigrationInterface, QueryRunner } from 'typeorm';

export class AuthenticatorDevices1764100000000 implements MigrationInterface {
  name = 'AuthenticatorDevices1764100000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE authenticator_devices (
        id uuid PRIMARY KEY,
        account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 60),
        secret_sealed text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz,
        last_used_step bigint
      )`);
    await db.query(`CREATE INDEX authenticator_devices_account ON authenticator_devices (account_id, created_at)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE IF EXISTS authenticator_devices`);
  }
}
