import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Administrative roles, held by a person (an account) or by a machine client of the management
 * API: `helpdesk` (every school) or `school-admin` of one school. Plus the indexes the console and
 * API page through: a school's audit events, and the whole trail newest first.
 */
export class AdminRoles1765300000000 implements MigrationInterface {
  name = 'AdminRoles1765300000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE admin_roles (
        id uuid PRIMARY KEY,
        account_id uuid REFERENCES accounts (id) ON DELETE CASCADE,
        client_id text CHECK (length(client_id) BETWEEN 1 AND 200),
        role text NOT NULL CHECK (role IN ('helpdesk', 'school-admin')),
        school_id uuid REFERENCES schools (id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        CHECK ((account_id IS NULL) <> (client_id IS NULL)),
        CHECK ((role = 'helpdesk') = (school_id IS NULL))
      )`);
    await db.query(`
      CREATE UNIQUE INDEX admin_roles_one_grant ON admin_roles (
        COALESCE(account_id::text, 'client:' || client_id), role, COALESCE(school_id, '00000000-0000-0000-0000-000000000000'::uuid)
      )`);
    await db.query(`CREATE INDEX admin_roles_account ON admin_roles (account_id) WHERE account_id IS NOT NULL`);
    await db.query(`CREATE INDEX admin_roles_client ON admin_roles (client_id) WHERE client_id IS NOT NULL`);
    await db.query(`CREATE INDEX audit_events_school ON audit_events (school_id, at DESC, id DESC) WHERE school_id IS NOT NULL`);
    await db.query(`CREATE INDEX audit_events_at ON audit_events (at DESC, id DESC)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP INDEX IF EXISTS audit_events_at`);
    await db.query(`DROP INDEX IF EXISTS audit_events_school`);
    await db.query(`DROP TABLE IF EXISTS admin_roles`);
  }
}
