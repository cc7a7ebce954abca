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

const COLUMNS = ['event', 'outcome', 'reason', 'account_id', 'email', 'school_id', 'client_id', 'ip', 'detail', 'email_normalised'];

function columnValues(event: AuditEvent): unknown[] {
  return [
    storable(event.event),
    event.outcome,
    storable(event.reason),
    event.accountId ?? null,
    storable(event.email),
    event.schoolId ?? null,
    storable(event.clientId),
    storable(event.ip),
    event.detail ? JSON.stringify(event.detail, (_key, value: unknown) => (typeof value === 'string' ? storable(value) : value)) : null,
    // What was typed is kept as typed; lookups compare the one normalisation (as accounts do).
    event.email ? storable(normaliseEmail(event.email)) : null,
  ];
}

/** What a page of the trail is filtered by; `schoolIds` confines it (a school administrator's view). */
export type AuditFilter = {
  email?: string | undefined;
  schoolId?: string | undefined;
  event?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  schoolIds?: readonly string[] | null | undefined;
};

type Row = {
  id: string;
  at: Date;
  at_exact: string;
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

/** Text PostgreSQL can store: a lone surrogate becomes U+FFFD, and so does NUL. */
const storable = (text: string | undefined): string | null =>
  text === undefined ? null : text.toWellFormed().replaceAll('\u0000', '\uFFFD');

const SELECT = `SELECT id, at, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at_exact,
                       event, outcome, reason, account_id, email, school_id, client_id, ip, detail
                  FROM audit_events`;

const toEvent = (row: Row): StoredAuditEvent & { id: string } => ({
  id: row.id,
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
});

export class AuditRepository {
  private readonly db: EntityManager;

  constructor(db: EntityManager) {
    this.db = db;
  }

  /** Written whatever was typed: evidence of a hostile request must not be lost to its NUL or lone surrogate. */
  async insert(event: AuditEvent): Promise<void> {
    await this.insertMany([event]);
  }

  /** Several events in one statement (the audit writer groups what arrives together). */
  async insertMany(events: readonly AuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    const values = events.map((_, row) => `(${COLUMNS.map((_, column) => `$${row * COLUMNS.length + column + 1}`).join(', ')})`);
    await this.db.query(`INSERT INTO audit_events (${COLUMNS.join(', ')}) VALUES ${values.join(', ')}`, events.flatMap(columnValues));
  }

  /** Newest first: events of the account, or typed with its address in any spelling that normalises alike (failed sign-ins). */
  async forAccount(accountId: string | null, email: string, limit: number): Promise<StoredAuditEvent[]> {
    const rows: Row[] = await this.db.query(
      `${SELECT}
        WHERE ($1::uuid IS NOT NULL AND account_id = $1::uuid) OR email_normalised = $2
        ORDER BY at DESC, id DESC LIMIT $3`,
      [accountId, normaliseEmail(email), limit],
    );
    return rows.map(toEvent);
  }

  /**
   * Newest first, at most `limit` older than the cursor (the last row's time and id). An email
   * filter matches the account's events and those typed with its address in any spelling.
   */
  async page(
    filter: AuditFilter & { accountId: string | null },
    options: { after: [string, string] | null; limit: number },
  ): Promise<Array<StoredAuditEvent & { cursor: [string, string] }>> {
    const rows: Row[] = await this.db.query(
      `${SELECT}
        WHERE ($1::text IS NULL OR ($2::uuid IS NOT NULL AND account_id = $2::uuid) OR email_normalised = $1)
          AND ($3::uuid IS NULL OR school_id = $3::uuid)
          AND ($4::uuid[] IS NULL OR school_id = ANY($4::uuid[]))
          AND ($5::text IS NULL OR event = $5)
          AND ($6::timestamptz IS NULL OR at >= $6)
          AND ($7::timestamptz IS NULL OR at < $7)
          AND ($8::timestamptz IS NULL OR (at, id) < ($8::timestamptz, $9::bigint))
        ORDER BY at DESC, id DESC LIMIT $10`,
      [
        filter.email ? normaliseEmail(filter.email) : null,
        filter.accountId,
        filter.schoolId ?? null,
        filter.schoolIds ?? null,
        filter.event ?? null,
        filter.since ?? null,
        filter.until ?? null,
        options.after?.[0] ?? null,
        options.after?.[1] ?? null,
        options.limit,
      ],
    );
    // The cursor keeps the time to the microsecond as PostgreSQL has it (a Date keeps milliseconds).
    return rows.map((row) => ({ ...toEvent(row), cursor: [row.at_exact, row.id] }));
  }

  /** When the account last completed a sign-in to a school system (at one of `schoolIds`, when given), if ever. */
  async lastSignIn(accountId: string, schoolIds: readonly string[] | null): Promise<Date | null> {
    const rows: Array<{ at: Date }> = await this.db.query(
      `SELECT at FROM audit_events
        WHERE account_id = $1 AND event = 'sign_in.authorized' AND outcome = 'success'
          AND ($2::uuid[] IS NULL OR school_id = ANY($2::uuid[]))
        ORDER BY at DESC LIMIT 1`,
      [accountId, schoolIds],
    );
    return rows[0]?.at ?? null;
  }
}
