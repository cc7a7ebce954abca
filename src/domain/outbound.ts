import os from 'node:os';
import type { Logger } from 'pino';
import type { Repositories } from '../db/repositories/index.ts';
import type { ClaimedDelivery, NewDelivery } from '../db/repositories/outbound-deliveries.ts';
import type { AuditService } from './audit.ts';

/** A failure that no retry can cure (the client is gone, or no longer takes these calls). */
export class PermanentDeliveryError extends Error {
  override name = 'PermanentDeliveryError';
}

/** Makes one attempt; resolves when the destination accepted it, throws otherwise. */
export type Sender = (delivery: ClaimedDelivery) => Promise<void>;

export type RetrySchedule = Readonly<{ baseSeconds: number; maxDelaySeconds: number; giveUpAfterSeconds: number }>;

export const DEFAULT_SCHEDULE: Omit<RetrySchedule, 'baseSeconds'> = { maxDelaySeconds: 3600, giveUpAfterSeconds: 86_400 };

/**
 * After a failed attempt (`attempts` counts it): wait base, 2·base, 4·base … capped at the maximum
 * delay, and give up once the next attempt would fall past the give-up horizon from enqueueing.
 */
export function afterFailure(
  attempts: number,
  createdAt: Date,
  now: Date,
  schedule: RetrySchedule,
): { giveUp: true } | { giveUp: false; retryInSeconds: number } {
  const retryInSeconds = Math.min(schedule.baseSeconds * 2 ** Math.max(0, attempts - 1), schedule.maxDelaySeconds);
  const horizon = createdAt.getTime() + schedule.giveUpAfterSeconds * 1000;
  return now.getTime() + retryInSeconds * 1000 > horizon ? { giveUp: true } : { giveUp: false, retryInSeconds };
}

/** Longer than any attempt can take (oidc-provider aborts its calls after 2.5 s). */
const LEASE_SECONDS = 60;
/**
 * Attempts made side by side per process. Each holds a database connection while it records its
 * outcome: a small number leaves the pool to the requests (and the embedded database, which
 * serves few connections to all processes, within its limit).
 */
export const BATCH_SIZE = 4;

/**
 * Server-to-server calls (back-channel logout first) go through a queue in PostgreSQL: enqueued
 * inside the request that causes them, delivered by a worker in every process, retried with
 * backoff, and every outcome logged and written to the audit trail as `<kind>.queued`,
 * `<kind>.delivered`, `<kind>.failed` and `<kind>.given_up`.
 */
export class OutboundDeliveryService {
  private readonly repositories: Repositories;
  private readonly audit: AuditService;
  private readonly logger: Logger;
  private readonly schedule: RetrySchedule;
  private readonly senders = new Map<string, Sender>();
  private readonly queuedListeners: Array<() => void> = [];
  /** Which process holds a claim, for operators reading the table. */
  readonly workerId = `${os.hostname()}:${process.pid}`;

  constructor(repositories: Repositories, audit: AuditService, logger: Logger, schedule: RetrySchedule) {
    this.repositories = repositories;
    this.audit = audit;
    this.logger = logger;
    this.schedule = schedule;
  }

  registerSender(kind: string, sender: Sender): void {
    this.senders.set(kind, sender);
  }

  /** Lets this process's worker start at once instead of at its next poll. */
  onQueued(listener: () => void): void {
    this.queuedListeners.push(listener);
  }

  async enqueue(delivery: NewDelivery): Promise<void> {
    const id = await this.repositories.outboundDeliveries.enqueue(delivery);
    await this.audit.record({
      event: `${delivery.kind}.queued`,
      outcome: 'success',
      accountId: delivery.accountId,
      clientId: delivery.clientId,
      detail: { delivery: id, destination: delivery.destination },
    });
    for (const listener of this.queuedListeners) listener();
  }

  /** Claims a batch of due rows and attempts them side by side; answers how many it claimed. */
  async deliverDue(): Promise<number> {
    const claimed = await this.repositories.outboundDeliveries.claimDue(BATCH_SIZE, LEASE_SECONDS, this.workerId);
    await Promise.all(claimed.map((delivery) => this.attempt(delivery)));
    return claimed.length;
  }

  nextDueAt(): Promise<Date | null> {
    return this.repositories.outboundDeliveries.nextDueAt();
  }

  private async attempt(delivery: ClaimedDelivery): Promise<void> {
    const sender = this.senders.get(delivery.kind);
    try {
      if (!sender) throw new PermanentDeliveryError(`nothing in this process sends ${delivery.kind}`);
      await sender(delivery);
    } catch (error) {
      await this.recordFailure(delivery, error);
      return;
    }
    const recorded = await this.repositories.outboundDeliveries.markDelivered(delivery.id, delivery.claimToken);
    this.logger.info(this.logFields(delivery), 'outbound delivery succeeded');
    if (!recorded) this.logger.warn(this.logFields(delivery), 'outbound delivery succeeded after its claim had expired');
    await this.record(delivery, 'delivered', 'success');
  }

  private async recordFailure(delivery: ClaimedDelivery, error: unknown): Promise<void> {
    const reason = describe(error);
    const decision = error instanceof PermanentDeliveryError ? { giveUp: true as const } : afterFailure(delivery.attempts, delivery.createdAt, new Date(), this.schedule);
    const { outboundDeliveries } = this.repositories;
    if (decision.giveUp) {
      await outboundDeliveries.giveUp(delivery.id, delivery.claimToken, reason);
      this.logger.error({ ...this.logFields(delivery), reason }, 'outbound delivery given up');
      await this.record(delivery, 'given_up', 'failure', reason);
      return;
    }
    await outboundDeliveries.reschedule(delivery.id, delivery.claimToken, reason, decision.retryInSeconds);
    this.logger.warn({ ...this.logFields(delivery), reason, retryInSeconds: decision.retryInSeconds }, 'outbound delivery failed; will retry');
    await this.record(delivery, 'failed', 'failure', reason, { retryInSeconds: decision.retryInSeconds });
  }

  private record(delivery: ClaimedDelivery, what: string, outcome: 'success' | 'failure', reason?: string, extra: Record<string, unknown> = {}) {
    return this.audit.record({
      event: `${delivery.kind}.${what}`,
      outcome,
      reason,
      accountId: delivery.accountId,
      clientId: delivery.clientId,
      detail: { delivery: delivery.id, destination: delivery.destination, attempt: delivery.attempts, worker: this.workerId, ...extra },
    });
  }

  private logFields(delivery: ClaimedDelivery) {
    return { delivery: delivery.id, kind: delivery.kind, clientId: delivery.clientId, destination: delivery.destination, attempt: delivery.attempts };
  }
}

/** The error and its cause in one line (fetch failures hide the reason in `cause`). */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`.slice(0, 1000);
}
