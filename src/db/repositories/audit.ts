import type { EntityManager } from 'typeorm';
import { normaliseEmail } from '../../auth/email-address.ts';

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
      `INSERT INTO audit_events (event, outcome, reason, account_id, email, school_id, client_id, ip, detail, email_normalised)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
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
        // What was typed is kept as typed; lookups compare the one normalisation (as accounts do).
        event.email ? normaliseEmail(event.email) : null,
      ],
    );
  }

  /** Newest first: events of the account, or typed with its address in any spelling that normalises alike (failed sign-ins). */
  async forAccount(accountId: string | null, email: string, limit: number): Promise<StoredAuditEvent[]> {
    const rows: Row[] = await this.db.query(
      `SELECT at, event, outcome, reason, account_id, email, school_id, client_id, ip, detail
         FROM audit_events
        WHERE ($1::uuid IS NOT NULL AND account_id = $1::uuid) OR email_normalised = $2
        ORDER BY at DESC, id DESC LIMIT $3`,
      [accountId, normaliseEmail(email), limit],
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
