import type { Logger } from 'pino';
import type { AuditEvent } from '../db/repositories/audit.ts';

type Pending = { event: AuditEvent; written: () => void };

/** Far below PostgreSQL's 65,535 parameters per statement (10 per event). */
const MAX_BATCH = 500;

/**
 * Group commit for the audit trail: events recorded while a write is in flight go together in
 * the next statement, so under load the trail costs one round trip per batch, not per event, and
 * when idle an event is written at once. `record` resolves once its event is written (or, if it
 * could not be, logged as an error): shutdown's `drain` loses none.
 */
export class AuditWriter {
  private readonly insertMany: (events: readonly AuditEvent[]) => Promise<void>;
  private readonly logger: Logger;
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;

  constructor(insertMany: (events: readonly AuditEvent[]) => Promise<void>, logger: Logger) {
    this.insertMany = insertMany;
    this.logger = logger;
  }

  record(event: AuditEvent): Promise<void> {
    return new Promise((written) => {
      this.queue.push({ event, written });
      this.flushing ??= this.flush();
    });
  }

  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async flush(): Promise<void> {
    // Let every event recorded in this turn of the event loop join the first batch.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH);
      await this.write(batch);
      for (const pending of batch) pending.written();
    }
    this.flushing = undefined;
  }

  /** One bad event (say, naming an account deleted meanwhile) must not cost the others theirs. */
  private async write(batch: Pending[]): Promise<void> {
    try {
      await this.insertMany(batch.map((pending) => pending.event));
      return;
    } catch (error) {
      if (batch.length === 1) {
        this.logger.error({ err: error, event: batch[0]!.event.event }, 'could not write an audit event');
        return;
      }
    }
    for (const pending of batch) await this.write([pending]);
  }
}
