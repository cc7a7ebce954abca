import type { EntityManager } from 'typeorm';
import { GroupCommit } from '../group-commit.ts';
import { runPrepared } from '../prepared.ts';

export type StoredPayload = Record<string, unknown>;

type Row = { payload: StoredPayload; consumed_at: Date | null };

export type UnhashedRow = { model: string; id: string; payload: StoredPayload };

const UNHASHED = 'unhashed:';

const COLUMNS = [0, 1, 2, 3, 4, 5, 6] as const;

/** Splits rows, in order, wherever a (model, id) repeats, so a later write still wins. */
function distinctRuns(rows: readonly UpsertRow[]): UpsertRow[][] {
  const runs: UpsertRow[][] = [[]];
  let seen = new Set<string>();
  for (const row of rows) {
    const key = `${row[0]}\u0000${row[1]}`;
    if (seen.has(key)) {
      runs.push([]);
      seen = new Set();
    }
    seen.add(key);
    runs.at(-1)!.push(row);
  }
  return runs.filter((run) => run.length > 0);
}

/** Run on every token, code and session: named, so PostgreSQL plans each once per connection. */
const HOT = {
  upsert: {
    name: 'oidc_payloads_upsert',
    text: `INSERT INTO oidc_payloads (model, id, payload, grant_id, user_code, uid, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (model, id) DO UPDATE SET
         payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id, user_code = EXCLUDED.user_code,
         uid = EXCLUDED.uid, expires_at = EXCLUDED.expires_at`,
  },
  /** Any number of rows in one statement: the group commit of tokens written together. */
  upsertMany: {
    name: 'oidc_payloads_upsert_many',
    text: `INSERT INTO oidc_payloads (model, id, payload, grant_id, user_code, uid, expires_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])
       ON CONFLICT (model, id) DO UPDATE SET
         payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id, user_code = EXCLUDED.user_code,
         uid = EXCLUDED.uid, expires_at = EXCLUDED.expires_at`,
  },
  find: { name: 'oidc_payloads_find', text: 'SELECT payload, consumed_at FROM oidc_payloads WHERE model = $1 AND id = $2' },
  consume: {
    name: 'oidc_payloads_consume',
    text: 'UPDATE oidc_payloads SET consumed_at = now() WHERE model = $1 AND id = $2 AND consumed_at IS NULL',
  },
  destroy: { name: 'oidc_payloads_destroy', text: 'DELETE FROM oidc_payloads WHERE model = $1 AND id = $2' },
} as const;

type UpsertRow = [
  model: string,
  id: string,
  payload: string,
  grantId: string | null,
  userCode: string | null,
  uid: string | null,
  expiresAt: Date | null,
];

/** Tokens written together (16 token requests at once) go in one statement, up to this many. */
const MAX_UPSERT_BATCH = 64;

/** The storage of oidc-provider's models (sessions, interactions, codes, tokens, grants, clients). */
/** A logout token a school system is owed because Gatehouse ended a session it was part of. */
export type OwedBackchannelLogout = { clientId: string; sid: string; destination: string };

export class OidcPayloadsRepository {
  private readonly db: EntityManager;
  private readonly upserts: GroupCommit<UpsertRow>;

  constructor(db: EntityManager) {
    this.db = db;
    this.upserts = new GroupCommit((rows) => this.upsertMany(rows), MAX_UPSERT_BATCH);
  }

  /** Resolves once the row is committed; outside a transaction, grouped with others written meanwhile. */
  async upsert(
    model: string,
    id: string,
    payload: StoredPayload,
    refs: { grantId?: string | undefined; userCode?: string | undefined; uid?: string | undefined },
    expiresAt: Date | null,
  ): Promise<void> {
    const row: UpsertRow = [model, id, JSON.stringify(payload), refs.grantId ?? null, refs.userCode ?? null, refs.uid ?? null, expiresAt];
    if (this.db.queryRunner) await runPrepared(this.db, HOT.upsert, row);
    else await this.upserts.write(row);
  }

  /** One statement per run of distinct rows: PostgreSQL refuses to upsert one row twice in a statement. */
  private async upsertMany(rows: readonly UpsertRow[]): Promise<void> {
    for (const run of distinctRuns(rows)) {
      if (run.length === 1) await runPrepared(this.db, HOT.upsert, run[0]!);
      else
        await runPrepared(
          this.db,
          HOT.upsertMany,
          COLUMNS.map((column) => run.map((row) => row[column])),
        );
    }
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
    const { rows } = await runPrepared(this.db, HOT.find, [model, id]);
    return rows[0] as Row | undefined;
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
    return (await runPrepared(this.db, HOT.consume, [model, id])).rowCount > 0;
  }

  async destroy(model: string, id: string): Promise<void> {
    await runPrepared(this.db, HOT.destroy, [model, id]);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await this.db.query(`DELETE FROM oidc_payloads WHERE grant_id = $1`, [grantId]);
  }

  /**
   * Ends everything the account holds at the provider: sessions (single sign-on), grants, and
   * every code and token, so refresh tokens stop working too. Answers the back-channel logouts
   * the ended sessions owe: one per client of a session that has a `backchannel_logout_uri`.
   */
  async revokeAccount(accountId: string): Promise<OwedBackchannelLogout[]> {
    return this.db.query(
      `WITH gone AS (
         DELETE FROM oidc_payloads WHERE payload ? 'accountId' AND payload->>'accountId' = $1 RETURNING model, payload
       ), signed_in AS (
         SELECT a.key AS client_id, a.value->>'sid' AS sid
           FROM gone, jsonb_each(CASE jsonb_typeof(gone.payload->'authorizations') WHEN 'object' THEN gone.payload->'authorizations' ELSE '{}'::jsonb END) a
          WHERE gone.model = 'Session' AND a.value ? 'sid'
       )
       SELECT s.client_id AS "clientId", s.sid, c.payload->>'backchannel_logout_uri' AS destination
         FROM signed_in s JOIN oidc_payloads c ON c.model = 'Client' AND c.id = s.client_id
        WHERE c.payload ? 'backchannel_logout_uri'`,
      [accountId],
    );
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
