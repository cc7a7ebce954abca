import type { Logger } from 'pino';

/**
 * Work a request starts but does not wait for (a mail, an audit event): failures are logged, and
 * shutdown waits for all of it (`drain`) before the pool closes.
 */
export class BackgroundWork {
  private readonly pending = new Set<Promise<void>>();
  private readonly logger: Logger;

  constructor(logger: Logger) {
    this.logger = logger;
  }

  run(failureMessage: string, work: () => Promise<unknown>): void {
    const running: Promise<void> = work()
      .then(() => undefined)
      .catch((error: unknown) => this.logger.error({ err: error }, failureMessage))
      .finally(() => this.pending.delete(running));
    this.pending.add(running);
  }

  /** Resolves once nothing is running, including work started by work that was running. */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }
}
