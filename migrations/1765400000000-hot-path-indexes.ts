import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Indexes found missing by running every repository statement against a realistic volume
 * (bench/volume, docs/capacity-indexes.md: 100,000 accounts, 2,000 schools, 1,000,000 provider
 * rows, 1,000,000 audit events). Plain b-trees only, so the embedded database (PGlite, no
 * extensions loaded) builds them too.
 */
export class HotPathIndexes1765400000000 implements MigrationInterface {
  name = 'HotPathIndexes1765400000000';

  async up(db: QueryRunner): Promise<void> {
    // The `schools` claim of every token asks which clients serve the person's schools; the
    // primary key starts with the client, so without this every token read the whole table.
    await db.query(`CREATE INDEX IF NOT EXISTS client_schools_school ON client_schools (school_id)`);
    // The trail filtered by event: a rare event (or one that never happened) otherwise walks
    // every event ever recorded, newest first, looking for a match.
    await db.query(`CREATE INDEX IF NOT EXISTS audit_events_event ON audit_events (event, at DESC, id DESC)`);
    // Every process start looks for rows not yet re-keyed (rehashStoredIds); there are none once
    // done, so this index is empty and costs nothing to keep, and the look-up no longer reads the table.
    await db.query(`CREATE INDEX IF NOT EXISTS oidc_payloads_unhashed ON oidc_payloads (model) WHERE model LIKE 'unhashed:%'`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP INDEX IF EXISTS oidc_payloads_unhashed`);
    await db.query(`DROP INDEX IF EXISTS audit_events_event`);
    await db.query(`DROP INDEX IF EXISTS client_schools_school`);
  }
}
