import type { EntityManager } from 'typeorm';

export type NewDelivery = {
  kind: string;
  clientId: string;
  accountId?: string | undefined;
  destination: string;
  payload: Record<string, unknown>;
};

/** A row this process holds until `claimToken` is used to record the outcome or the lease ends. */
export type ClaimedDelivery = NewDelivery & {
  id: string;
  attempts: number;
  createdAt: Date;
  claimToken: string;
  /** Why the previous attempt failed; null when none has failed yet. */
  previousError: string | null;
};

type ClaimedRow = {
  id: string;
  kind: string;
  client_id: string;
  account_id: string | null;
  destination: string;
  payload: Record<string, unknown>;
  attempts: number;
  created_at: Date;
  claim_token: string;
  last_error: string | null;
};

/** The outbound delivery queue (all SQL). Every change of state is one statement. */
export class OutboundDeliveriesRepository {
  private readonly db: EntityManager;

  constructor(db: EntityManager) {
    this.db = db;
  }

  async enqueue(delivery: NewDelivery): Promise<string> {
    const [row] = (await this.db.query(
      `INSERT INTO outbound_deliveries (kind, client_id, account_id, destination, payload)
       VALUES ($1, $2, $3, $4, $5) RETURNING id`,
      [delivery.kind, delivery.clientId, delivery.accountId ?? null, delivery.destination, JSON.stringify(delivery.payload)],
    )) as Array<{ id: string }>;
    return row!.id;
  }

  /**
   * Claims up to `limit` due rows for `leaseSeconds`, counting the attempt. SKIP LOCKED lets
   * processes claim side by side without waiting on each other; the lease keeps a claimed row
   * from being claimed again once this statement commits, and expires if its holder dies.
   */
  async claimDue(limit: number, leaseSeconds: number, claimedBy: string): Promise<ClaimedDelivery[]> {
    // TypeORM answers an UPDATE with [rows, affectedCount].
    const [rows] = (await this.db.query(
      `UPDATE outbound_deliveries d
          SET attempts = d.attempts + 1, claim_token = gen_random_uuid(),
              claimed_until = now() + make_interval(secs => $2), claimed_by = $3
        WHERE d.id IN (
          SELECT id FROM outbound_deliveries
           WHERE status = 'pending' AND next_attempt_at <= now()
             AND (claimed_until IS NULL OR claimed_until < now())
           ORDER BY next_attempt_at
           LIMIT $1
           FOR UPDATE SKIP LOCKED)
        RETURNING d.id, d.kind, d.client_id, d.account_id, d.destination, d.payload, d.attempts, d.created_at, d.claim_token, d.last_error`,
      [limit, leaseSeconds, claimedBy],
    )) as [ClaimedRow[], number];
    return rows.map((row) => ({
      id: String(row.id),
      kind: row.kind,
      clientId: row.client_id,
      accountId: row.account_id ?? undefined,
      destination: row.destination,
      payload: row.payload,
      attempts: row.attempts,
      createdAt: row.created_at,
      claimToken: row.claim_token,
      previousError: row.last_error,
    }));
  }

  /** False when the claim was lost (the lease ran out and another process took the row). */
  async markDelivered(id: string, claimToken: string): Promise<boolean> {
    return this.finish(
      `UPDATE outbound_deliveries SET status = 'delivered', finished_at = now(), last_error = NULL,
              claim_token = NULL, claimed_until = NULL
        WHERE id = $1 AND claim_token = $2`,
      [id, claimToken],
    );
  }

  async reschedule(id: string, claimToken: string, error: string, delaySeconds: number): Promise<boolean> {
    return this.finish(
      `UPDATE outbound_deliveries SET next_attempt_at = now() + make_interval(secs => $3), last_error = $4,
              claim_token = NULL, claimed_until = NULL
        WHERE id = $1 AND claim_token = $2`,
      [id, claimToken, delaySeconds, error],
    );
  }

  async giveUp(id: string, claimToken: string, error: string): Promise<boolean> {
    return this.finish(
      `UPDATE outbound_deliveries SET status = 'given_up', finished_at = now(), last_error = $3,
              claim_token = NULL, claimed_until = NULL
        WHERE id = $1 AND claim_token = $2`,
      [id, claimToken, error],
    );
  }

  /** When the earliest pending row becomes claimable, if any. */
  async nextDueAt(): Promise<Date | null> {
    const [row] = (await this.db.query(
      `SELECT min(greatest(next_attempt_at, coalesce(claimed_until, next_attempt_at))) AS due
         FROM outbound_deliveries WHERE status = 'pending'`,
    )) as Array<{ due: Date | null }>;
    return row?.due ?? null;
  }

  /** Finished rows are kept a while for operators; the audit trail keeps the events for good. */
  async deleteFinished(before: Date): Promise<number> {
    const [, affected] = (await this.db.query(`DELETE FROM outbound_deliveries WHERE status <> 'pending' AND finished_at < $1`, [
      before,
    ])) as [unknown[], number];
    return affected;
  }

  private async finish(sql: string, parameters: unknown[]): Promise<boolean> {
    const [, affected] = (await this.db.query(sql, parameters)) as [unknown[], number];
    return affected === 1;
  }
}
