import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * From here on oidc_payloads keeps only a keyed hash of every bearer id (tokens, codes, sessions,
 * interactions, pushed requests). The key is derived from the master key, which SQL never sees:
 * rows written before are set aside under `unhashed:<model>`, and each process re-keys them at
 * start (rehashStoredIds in src/oidc/bearer-storage.ts) so nobody is signed out and no token stops working.
 * Client and Grant ids are not credentials and stay as they are (a snapshot of the rule today).
 */
export class HashBearerIds1764800000000 implements MigrationInterface {
  name = 'HashBearerIds1764800000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`UPDATE oidc_payloads SET model = 'unhashed:' || model WHERE model NOT IN ('Client', 'Grant')`);
  }

  async down(db: QueryRunner): Promise<void> {
    // The values cannot be recovered from their hashes: what was written since cannot be used by
    // the older version, so it is removed (everyone signs in again); rows not yet re-keyed go back.
    await db.query(`DELETE FROM oidc_payloads WHERE model NOT IN ('Client', 'Grant') AND model NOT LIKE 'unhashed:%'`);
    await db.query(`UPDATE oidc_payloads SET model = substr(model, length('unhashed:') + 1) WHERE model LIKE 'unhashed:%'`);
  }
}
