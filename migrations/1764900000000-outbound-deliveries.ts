import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Server-to-server calls waiting to be made (back-channel logout first): one row per delivery,
 * claimed by one process at a time with an expiring lease, retried with backoff until delivered
 * or given up. The row keeps what is needed to mint the message again, never the message itself.
 */
export class OutboundDeliveries1764900000000 implements MigrationInterface {
  name = 'OutboundDeliveries1764900000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE outbound_deliveries (
        id bigserial PRIMARY KEY,
        kind text NOT NULL,
        client_id text NOT NULL,
        account_id uuid,
        destination text NOT NULL,
        payload jsonb NOT NULL,
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'given_up')),
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        claim_token uuid,
        claimed_until timestamptz,
        claimed_by text,
        last_error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz
      )`);
    await db.query(`CREATE INDEX outbound_deliveries_due ON outbound_deliveries (next_attempt_at) WHERE status = 'pending'`);
    await db.query(`CREATE INDEX outbound_deliveries_finished ON outbound_deliveries (finished_at) WHERE status <> 'pending'`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE IF EXISTS outbound_deliveries`);
  }
}
