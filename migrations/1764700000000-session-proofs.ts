import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Fresh proof for credential changes: when this session last gave the password, and a code (from
 * which device). Keyed by the provider session's uid, so a new session starts with none.
 */
export class SessionProofs1764700000000 implements MigrationInterface {
  name = 'SessionProofs1764700000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE session_proofs (
        session_uid text NOT NULL CHECK (length(session_uid) BETWEEN 1 AND 128),
        account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        factor text NOT NULL CHECK (factor IN ('password', 'code')),
        device_id uuid REFERENCES authenticator_devices (id) ON DELETE SET NULL,
        proven_at timestamptz NOT NULL,
        PRIMARY KEY (session_uid, account_id, factor)
      )`);
    await db.query(`CREATE INDEX session_proofs_proven_at ON session_proofs (proven_at)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE IF EXISTS session_proofs`);
  }
}
