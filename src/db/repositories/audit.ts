import type { EntityManager } from 'typeorm';

export type AuditEvent = {
  event: string;
  outcome: 'success' | 'failure';
  reason?: string | undefined;
  accountId?: string | undefined;
  email?: string | undefined;
  schoolId?: string | undefined;
  clientId?: string | undefined;
  ip?: string | undefined;
  detail?: Record<string, unknown> | undefined;
};

export type StoredAuditEvent = AuditEvent & { at: Date };

type Row = {
  at: Date;
  event: string;
  outcome: 'success' | 'failure';
  reason: string | null;
  account_id: string | null;
  email: string | null;
  school_id: string | null;
  client_id: string | null;
  ip: string | null;
  detail: Record<string, unknown> | null;
};

export class AuditRepository {
  private readonly db: EntityManager;

  constructor(db: EntityManager) {
    this.db = db;
  }

  async insert(event: AuditEvent): Promise<void> {
    await this.db.query(
      `INSERT INTO audit_events (event, outcome, reason, account_id, email, school_id, client_id, ip, detail)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        event.event,
        event.outcome,
        event.reason ?? null,
        event.accountId ?? null,
        event.email ?? null,
        event.schoolId ?? null,
        event.clientId ?? null,
        event.ip ?? null,
        event.detail ? JSON.stringify(event.detail) : null,
      ],
    );
  }

  /** Newest first: events of the account, or typed with its address (failed sign-ins). */
  async forAccount(accountId: string | null, email: string, limit: number): Promise<StoredAuditEvent[]> {
    const rows: Row[] = await this.db.query(
      `SELECT at, event, outcome, reason, account_id, email, school_id, client_id, ip, detail
         FROM audit_events
        WHERE ($1::uuid IS NOT NULL AND account_id = $1::uuid) OR lower(email) = lower($2)
        ORDER BY at DESC, id DESC LIMIT $3`,
      [accountId, email, limit],
    );
    return rows.map((row) => ({
      at: row.at,
      event: row.event,
      outcome: row.outcome,
      reason: row.reason ?? undefined,
      accountId: row.account_id ?? undefined,
      email: row.email ?? undefined,
      schoolId: row.school_id ?? undefined,
      clientId: row.client_id ?? undefined,
      ip: row.ip ?? undefined,
      detail: row.detail ?? undefined,
    }));
  }
}
