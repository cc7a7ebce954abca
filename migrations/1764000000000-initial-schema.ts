import type { MigrationInterface, QueryRunner } from 'typeorm';

export class InitialSchema1764000000000 implements MigrationInterface {
  name = 'InitialSchema1764000000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE schools (
        id uuid PRIMARY KEY,
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        postcode text NOT NULL CHECK (length(postcode) BETWEEN 1 AND 16),
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`
      CREATE TABLE accounts (
        id uuid PRIMARY KEY,
        email text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
        name text,
        password_hash text,
        status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'locked')),
        password_changed_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE UNIQUE INDEX accounts_email_ci ON accounts (lower(email))`);
    await db.query(`
      CREATE TABLE memberships (
        account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        school_id uuid NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
        access_level text NOT NULL CHECK (access_level IN ('basic', 'higher')),
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (account_id, school_id)
      )`);
    await db.query(`CREATE INDEX memberships_school ON memberships (school_id)`);
    await db.query(`
      CREATE TABLE client_schools (
        client_id text NOT NULL,
        school_id uuid NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
        PRIMARY KEY (client_id, school_id)
      )`);
    await db.query(`
      CREATE TABLE password_reset_tokens (
        id uuid PRIMARY KEY,
        account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        token_hash text NOT NULL UNIQUE,
        interaction_uid text,
        expires_at timestamptz NOT NULL,
        used_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE INDEX password_reset_tokens_account ON password_reset_tokens (account_id)`);
    await db.query(`
      CREATE TABLE secrets (
        name text PRIMARY KEY,
        value text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`
      CREATE TABLE oidc_payloads (
        model text NOT NULL,
        id text NOT NULL,
        payload jsonb NOT NULL,
        grant_id text,
        user_code text,
        uid text,
        expires_at timestamptz,
        consumed_at timestamptz,
        PRIMARY KEY (model, id)
      )`);
    await db.query(`CREATE INDEX oidc_payloads_uid ON oidc_payloads (model, uid) WHERE uid IS NOT NULL`);
    await db.query(`CREATE INDEX oidc_payloads_user_code ON oidc_payloads (model, user_code) WHERE user_code IS NOT NULL`);
    await db.query(`CREATE INDEX oidc_payloads_grant_id ON oidc_payloads (grant_id) WHERE grant_id IS NOT NULL`);
    await db.query(`CREATE INDEX oidc_payloads_expires_at ON oidc_payloads (expires_at) WHERE expires_at IS NOT NULL`);
  }

  async down(db: QueryRunner): Promise<void> {
    for (const table of ['oidc_payloads', 'secrets', 'password_reset_tokens', 'client_schools', 'memberships', 'accounts', 'schools']) {
      await db.query(`DROP TABLE IF EXISTS ${table}`);
    }
  }
}
