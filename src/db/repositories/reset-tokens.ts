import type { EntityManager } from 'typeorm';

export type ResetTokenState = {
  accountId: string;
  interactionUid: string | null;
  /** The school system whose login page the link was asked from (its school's name is shown). */
  clientId: string | null;
  /** The school whose administrator sent the link (a first-time email): its name is shown. */
  schoolId: string | null;
  expiresAt: Date;
  usedAt: Date | null;
};

export class ResetTokensRepository {
  private readonly db: EntityManager;

  constructor(db: EntityManager) {
    this.db = db;
  }

  async insert(token: {
    id: string;
    accountId: string;
    tokenHash: string;
    interactionUid: string | null;
    clientId: string | null;
    schoolId: string | null;
    expiresAt: Date;
  }): Promise<void> {
    await this.db.query(
      `INSERT INTO password_reset_tokens (id, account_id, token_hash, interaction_uid, client_id, school_id, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [token.id, token.accountId, token.tokenHash, token.interactionUid, token.clientId, token.schoolId, token.expiresAt],
    );
  }

  async findByHash(tokenHash: string): Promise<ResetTokenState | null> {
    const rows: Array<{
      account_id: string;
      interaction_uid: string | null;
      client_id: string | null;
      school_id: string | null;
      expires_at: Date;
      used_at: Date | null;
    }> = await this.db.query(
      `SELECT account_id, interaction_uid, client_id, school_id, expires_at, used_at FROM password_reset_tokens WHERE token_hash = $1`,
      [tokenHash],
    );
    const row = rows[0];
    return row
      ? {
          accountId: row.account_id,
          interactionUid: row.interaction_uid,
          clientId: row.client_id,
          schoolId: row.school_id,
          expiresAt: row.expires_at,
          usedAt: row.used_at,
        }
      : null;
  }

  /** Spends a token atomically: of two concurrent uses, only one gets a row back. */
  async spend(tokenHash: string): Promise<{ accountId: string; interactionUid: string | null; clientId: string | null } | null> {
    // TypeORM answers an UPDATE with [rows, affectedCount].
    const [rows] = (await this.db.query(
      `UPDATE password_reset_tokens SET used_at = now()
        WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
        RETURNING account_id, interaction_uid, client_id`,
      [tokenHash],
    )) as [Array<{ account_id: string; interaction_uid: string | null; client_id: string | null }>, number];
    const row = rows[0];
    return row ? { accountId: row.account_id, interactionUid: row.interaction_uid, clientId: row.client_id } : null;
  }

  /** A new password makes every other outstanding link for the account useless. */
  async spendAllFor(accountId: string): Promise<void> {
    await this.db.query(`UPDATE password_reset_tokens SET used_at = now() WHERE account_id = $1 AND used_at IS NULL`, [accountId]);
  }

  async deleteExpired(olderThan: Date): Promise<number> {
    const result = (await this.db.query(`DELETE FROM password_reset_tokens WHERE expires_at < $1`, [olderThan])) as [unknown[], number];
    return result[1] ?? 0;
  }
}
