import type { EntityManager } from 'typeorm';

/** How many of the account's current backup codes are left, and when they were made (null: none made). */
export type BackupCodeSummary = { left: number; createdAt: Date | null };

export class BackupCodesRepository {
  private readonly db: EntityManager;

  constructor(db: EntityManager) {
    this.db = db;
  }

  /**
   * Holds the account's row until the transaction ends (call inside one). Every change that
   * decides about the account's backup codes from what else it has (a new set, the removal of a
   * device or passkey) takes this lock first and only then reads: of two such changes at once,
   * the second sees what the first committed. Without it, two removals of the last two second
   * factors each see the other's row and neither voids the codes.
   */
  async lockAccount(accountId: string): Promise<void> {
    await this.db.query(`SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE`, [accountId]);
  }

  /** The new set replaces every code the account had, used or not (call inside a transaction). */
  async replaceAll(accountId: string, codeHashes: readonly string[]): Promise<void> {
    // One replacement per account at a time: two at once would each delete only what they saw and leave both sets.
    await this.lockAccount(accountId);
    await this.db.query(`DELETE FROM backup_codes WHERE account_id = $1`, [accountId]);
    await this.db.query(`INSERT INTO backup_codes (account_id, code_hash) SELECT $1, hash FROM unnest($2::text[]) AS hash`, [
      accountId,
      codeHashes,
    ]);
  }

  /**
   * Spends a code: true only for the one request that marks it used, so two concurrent uses of
   * one code cannot both pass.
   */
  async spend(accountId: string, codeHash: string): Promise<boolean> {
    const [, affected] = (await this.db.query(
      `UPDATE backup_codes SET used_at = now() WHERE account_id = $1 AND code_hash = $2 AND used_at IS NULL`,
      [accountId, codeHash],
    )) as [unknown[], number];
    return affected > 0;
  }

  /** Whether the code is one of the account's unused ones, without spending it. */
  async isUnused(accountId: string, codeHash: string): Promise<boolean> {
    const rows: Array<{ unused: boolean }> = await this.db.query(
      `SELECT EXISTS (SELECT 1 FROM backup_codes WHERE account_id = $1 AND code_hash = $2 AND used_at IS NULL) AS unused`,
      [accountId, codeHash],
    );
    return rows[0]?.unused === true;
  }

  async summary(accountId: string): Promise<BackupCodeSummary> {
    const rows: Array<{ left: string; created_at: Date | null }> = await this.db.query(
      `SELECT count(*) FILTER (WHERE used_at IS NULL) AS left, min(created_at) AS created_at FROM backup_codes WHERE account_id = $1`,
      [accountId],
    );
    return { left: Number(rows[0]?.left ?? 0), createdAt: rows[0]?.created_at ?? null };
  }

  /** Voids every code of the account; answers how many were still unused. */
  async deleteAllFor(accountId: string): Promise<number> {
    const rows: Array<{ unused: string }> = await this.db.query(
      `WITH gone AS (DELETE FROM backup_codes WHERE account_id = $1 RETURNING used_at)
       SELECT count(*) FILTER (WHERE used_at IS NULL) AS unused FROM gone`,
      [accountId],
    );
    return Number(rows[0]?.unused ?? 0);
  }
}
