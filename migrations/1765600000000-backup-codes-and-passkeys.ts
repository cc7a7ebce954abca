import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Recovery and passkeys (DESIGN.md): backup codes kept only as keyed hashes, each usable once;
 * passkeys (WebAuthn credentials) with the sign counter and backup flags their assertions are
 * checked against; and WebAuthn challenges, single-use and short-lived, in PostgreSQL so that any
 * process can finish a ceremony another began. One live challenge per purpose and binding (an
 * interaction or a session): asking again replaces it, so nobody can pile them up.
 */
export class BackupCodesAndPasskeys1765600000000 implements MigrationInterface {
  name = 'BackupCodesAndPasskeys1765600000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE backup_codes (
        account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        code_hash text NOT NULL CHECK (length(code_hash) = 43),
        created_at timestamptz NOT NULL DEFAULT now(),
        used_at timestamptz,
        PRIMARY KEY (account_id, code_hash)
      )`);
    await db.query(`
      CREATE TABLE passkeys (
        id uuid PRIMARY KEY,
        account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        credential_id text NOT NULL UNIQUE CHECK (length(credential_id) BETWEEN 1 AND 1400),
        public_key bytea NOT NULL,
        sign_count bigint NOT NULL DEFAULT 0 CHECK (sign_count >= 0),
        transports text[] NOT NULL DEFAULT '{}',
        backup_eligible boolean NOT NULL,
        backed_up boolean NOT NULL,
        aaguid text,
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 60),
        created_at timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz
      )`);
    await db.query(`CREATE INDEX passkeys_account ON passkeys (account_id, created_at)`);
    await db.query(`
      CREATE TABLE webauthn_challenges (
        purpose text NOT NULL CHECK (purpose IN ('register', 'sign_in', 'second_step', 'confirm')),
        binding text NOT NULL CHECK (length(binding) BETWEEN 1 AND 200),
        challenge_hash text NOT NULL CHECK (length(challenge_hash) = 43),
        account_id uuid REFERENCES accounts (id) ON DELETE CASCADE,
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (purpose, binding)
      )`);
    await db.query(`CREATE INDEX webauthn_challenges_expiry ON webauthn_challenges (expires_at)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE IF EXISTS webauthn_challenges`);
    await db.query(`DROP TABLE IF EXISTS passkeys`);
    await db.query(`DROP TABLE IF EXISTS backup_codes`);
  }
}
