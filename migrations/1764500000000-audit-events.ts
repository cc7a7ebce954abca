import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Every security-relevant event, for the helpdesk: who, where, from which client and IP. */
export class AuditEvents1764500000000 implements MigrationInterface {
  name = 'AuditEvents1764500000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE audit_events (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        event text NOT NULL,
        outcome text NOT NULL CHECK (outcome IN ('success', 'failure')),
        reason text,
        account_id uuid,
        email text,
        school_id uuid,
        client_id text,
        ip text,
        detail jsonb
      )`);
    await db.query(`CREATE INDEX audit_events_account ON audit_events (account_id, at DESC)`);
    await db.query(`CREATE INDEX audit_events_email ON audit_events (lower(email), at DESC)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE IF EXISTS audit_events`);
  }
}
