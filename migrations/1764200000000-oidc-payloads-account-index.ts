import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Ending every session and token of an account (new password, lock) looks rows up by account. */
export class OidcPayloadsAccountIndex1764200000000 implements MigrationInterface {
  name = 'OidcPayloadsAccountIndex1764200000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`CREATE INDEX oidc_payloads_account ON oidc_payloads ((payload->>'accountId')) WHERE payload ? 'accountId'`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP INDEX IF EXISTS oidc_payloads_account`);
  }
}
