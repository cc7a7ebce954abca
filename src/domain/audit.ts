import type { Language } from '../i18n/languages.ts';
import type { Logger } from 'pino';
import type { AuditEvent, StoredAuditEvent } from '../db/repositories/audit.ts';
import type { School } from '../db/entities/index.ts';
import type { Repositories } from '../db/repositories/index.ts';
import { AuditWriter } from './audit-writer.ts';
import { BackgroundWork } from './background.ts';

/**
 * Where a request came from, carried into the audit trail; `devices` are the browser's verified
 * device cookies (accounts it fully signed in to before), which the throttle trusts.
 */
export type RequestContext = {
  ip: string;
  clientId?: string | undefined;
  /** The language of the page the person is on: their mails from this request are in it too. */
  language?: Language | undefined;
  /** The school whose system this request came through, for the sender and subject of its mails. */
  schoolName?: string | null | undefined;
  /** The school an administrator acted for (a first-time email), when no school system is involved. */
  schoolId?: string | undefined;
  devices?: ReadonlyArray<{ id: string; accountId: string; issuedAt: number }> | undefined;
};

/**
 * The audit trail. Recording never fails the action it describes: an event that cannot be
 * written is logged as an error instead (and monitoring should alert on that).
 */
export class AuditService {
  private readonly repositories: Repositories;
  private readonly logger: Logger;
  private readonly background: BackgroundWork;
  private readonly writer: AuditWriter;
  private readonly schoolsOfClient: (clientId: string) => Promise<School[]>;

  /** `schoolsOfClient`: the cached lookup in the server (src/db/caches.ts). */
  constructor(repositories: Repositories, logger: Logger, schoolsOfClient?: (clientId: string) => Promise<School[]>) {
    this.repositories = repositories;
    this.logger = logger;
    this.background = new BackgroundWork(logger);
    this.writer = new AuditWriter((events) => repositories.audit.insertMany(events), logger);
    this.schoolsOfClient = schoolsOfClient ?? ((clientId) => repositories.clientSchools.schoolsOf(clientId));
  }

  async record(event: AuditEvent): Promise<void> {
    let schoolId: string | undefined;
    try {
      schoolId = event.schoolId ?? (await this.schoolOfClient(event.clientId));
    } catch (error) {
      this.logger.warn({ err: error, event: event.event }, 'could not tell the school of an audit event');
    }
    await this.writer.record({ ...event, schoolId });
  }

  /**
   * Audit work nobody waits for (the provider's events fire after or beside the response): it
   * runs in the background, failures are logged, and shutdown waits for it (`drain`).
   */
  inBackground(work: () => Promise<void>): void {
    this.background.run('could not audit an event', work);
  }

  /** Resolves once every background audit event has been written (or has failed and been logged). */
  async drain(): Promise<void> {
    await this.background.drain();
    await this.writer.drain();
  }

  /** A client that serves one school tells which school an event was about. */
  private async schoolOfClient(clientId: string | undefined): Promise<string | undefined> {
    if (!clientId) return undefined;
    const schools = await this.schoolsOfClient(clientId);
    return schools.length === 1 ? schools[0]!.id : undefined;
  }

  async forEmail(email: string, limit = 100): Promise<StoredAuditEvent[]> {
    const account = await this.repositories.accounts.findByEmail(email);
    return this.repositories.audit.forAccount(account?.id ?? null, email, limit);
  }
}
