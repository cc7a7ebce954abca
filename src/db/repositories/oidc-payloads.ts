import type { EntityManager } from 'typeorm';

export type StoredPayload = Record<string, unknown>;

type Row = { payload: StoredPayload; consumed_at: Date | null };

export type UnhashedRow = { model: string; id: string; payload: StoredPayload };

const UNHASHED = 'unhashed:';

/** The storage of oidc-provider's models (sessions, interactions, codes, tokens, grants, clients). */
export class OidcPayloadsRepository {
  private readonly db: EntityManager;

  constructor(db: EntityManager) {
    this.db = db;
  }

  async upsert(
    model: string,
    id: string,
    payload: StoredPayload,
    refs: { grantId?: string | undefined; userCode?: string | undefined; uid?: string | undefined },
    expiresAt: Date | null,
  ): Promise<void> {
    await this.db.query(
      `INSERT INTO oidc_payloads (model, id, payload, grant_id, user_code, uid, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (model, id) DO UPDATE SET
         payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id, user_code = EXCLUDED.user_code,
         uid = EXCLUDED.uid, expires_at = EXCLUDED.expires_at`,
      [model, id, JSON.stringify(payload), refs.grantId ?? null, refs.userCode ?? null, refs.uid ?? null, expiresAt],
    );
  }

  /** Rewrites a row only if it still exists (true then): a deleted session must stay deleted. */
  async update(model: string, id: string, payload: StoredPayload, expiresAt: Date | null): Promise<boolean> {
    const [, affected] = (await this.db.query(`UPDATE oidc_payloads SET payload = $3, expires_at = $4 WHERE model = $1 AND id = $2`, [
      model,
      id,
      JSON.stringify(payload),
      expiresAt,
    ])) as [unknown[], number];
    return affected > 0;
  }

  async find(model: string, id: string): Promise<Row | undefined> {
    const rows: Row[] = await this.db.query(`SELECT payload, consumed_at FROM oidc_payloads WHERE model = $1 AND id = $2`, [model, id]);
    return rows[0];
  }

  async findBy(model: string, column: 'uid' | 'user_code', value: string): Promise<Row | undefined> {
    const rows: Row[] = await this.db.query(
      `SELECT payload, consumed_at FROM oidc_payloads WHERE model = $1 AND ${column} = $2
        ORDER BY expires_at DESC NULLS FIRST LIMIT 1`,
      [model, value],
    );
    return rows[0];
  }

  /** True only for the one caller that flips consumed_at: a code cannot be spent twice. */
  async consume(model: string, id: string): Promise<boolean> {
    // TypeORM answers an UPDATE with [rows, affectedCount].
    const [, affected] = (await this.db.query(
      `UPDATE oidc_payloads SET consumed_at = now()
        WHERE model = $1 AND id = $2 AND consumed_at IS NULL`,
      [model, id],
    )) as [unknown[], number];
    return affected > 0;
  }

  async destroy(model: string, id: string): Promise<void> {
    await this.db.query(`DELETE FROM oidc_payloads WHERE model = $1 AND id = $2`, [model, id]);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await this.db.query(`DELETE FROM oidc_payloads WHERE grant_id = $1`, [grantId]);
  }

  /**
   * Ends everything the account holds at the provider: sessions (single sign-on), grants, and
   * every code and token, so refresh tokens stop working too.
   */
  async revokeAccount(accountId: string): Promise<number> {
    const [, affected] = (await this.db.query(`DELETE FROM oidc_payloads WHERE payload ? 'accountId' AND payload->>'accountId' = $1`, [
      accountId,
    ])) as [unknown[], number];
    return affected;
  }

  /**
   * A leaver's reach into one school: every grant of the account (and the codes and tokens issued
   * under it) through a client serving the school that was chosen for that school, or that no
   * other membership of the account still covers. Run after the membership is gone; other
   * schools' grants are untouched. Returns how many grants went.
   */
  async revokeSchoolGrants(accountId: string, schoolId: string): Promise<number> {
    const doomed: Array<{ id: string }> = await this.db.query(
      `SELECT g.id FROM oidc_payloads g
        WHERE g.model = 'Grant' AND g.payload ? 'accountId' AND g.payload->>'accountId' = $1
          AND EXISTS (SELECT 1 FROM client_schools cs WHERE cs.client_id = g.payload->>'clientId' AND cs.school_id = $2)
          AND (EXISTS (SELECT 1 FROM grant_schools gs WHERE gs.grant_id = g.id AND gs.school_id = $2)
               OR NOT EXISTS (SELECT 1 FROM memberships m JOIN client_schools cs ON cs.school_id = m.school_id
                               WHERE m.account_id = $1::uuid AND cs.client_id = g.payload->>'clientId'))`,
      [accountId, schoolId],
    );
    const ids = doomed.map((row) => row.id);
    if (ids.length === 0) return 0;
    await this.db.query(`DELETE FROM oidc_payloads WHERE grant_id = ANY($1::text[]) OR (model = 'Grant' AND id = ANY($1::text[]))`, [ids]);
    return ids.length;
  }

  /** Every client_credentials token issued to the client (its secret was replaced). */
  async revokeClientCredentials(clientId: string): Promise<void> {
    await this.db.query(`DELETE FROM oidc_payloads WHERE model = 'ClientCredentials' AND payload->>'clientId' = $1`, [clientId]);
  }

  /** Rows written before bearer ids were hashed, set aside by a migration under `unhashed:<model>`. */
  async listUnhashed(limit: number): Promise<UnhashedRow[]> {
    const rows: Array<{ model: string; id: string; payload: StoredPayload }> = await this.db.query(
      `SELECT model, id, payload FROM oidc_payloads WHERE model LIKE 'unhashed:%' LIMIT $1`,
      [limit],
    );
    return rows.map((row) => ({ model: row.model.slice(UNHASHED.length), id: row.id, payload: row.payload }));
  }

  /** Puts one set-aside row back under its stored form; a process that lost the race changes nothing. */
  async replaceUnhashed(row: UnhashedRow, stored: { id: string; payload: StoredPayload; userCode: string | undefined }): Promise<void> {
    await this.db.query(`UPDATE oidc_payloads SET model = $3, id = $4, payload = $5, user_code = $6 WHERE model = $1 AND id = $2`, [
      UNHASHED + row.model,
      row.id,
      row.model,
      stored.id,
      JSON.stringify(stored.payload),
      stored.userCode ?? null,
    ]);
  }

  async deleteExpired(before: Date): Promise<number> {
    const result = (await this.db.query(`DELETE FROM oidc_payloads WHERE expires_at < $1`, [before])) as [unknown[], number];
    return result[1] ?? 0;
  }
}
