import type { Logger } from 'pino';
import { GroupCommit } from '../db/group-commit.ts';
import type { AuditEvent } from '../db/repositories/audit.ts';

/** Far below PostgreSQL's 65,535 parameters per statement (10 per event). */
const MAX_BATCH = 500;

/**
 * The audit trail's writes, grouped (GroupCommit): under load one statement per batch, not per
 * event. `record` resolves once its event is written or, if it could not be, logged as an error:
 * recording never fails the action it describes, and `drain` at shutdown loses none.
 */
export class AuditWriter {
  private readonly writes: GroupCommit<AuditEvent>;
  private readonly logger: Logger;

  constructor(insertMany: (events: readonly AuditEvent[]) => Promise<void>, logger: Logger) {
    this.writes = new GroupCommit(insertMany, MAX_BATCH);
    this.logger = logger;
  }

  async record(event: AuditEvent): Promise<void> {
    try {
      await this.writes.write(event);
    } catch (error) {
      this.logger.error({ err: error, event: event.event }, 'could not write an audit event');
    }
  }

  drain(): Promise<void> {
    return this.writes.drain();
  }
}
