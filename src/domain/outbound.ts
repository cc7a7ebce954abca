import os from 'node:os';
import type { Logger } from 'pino';
import type { Repositories } from '../db/repositories/index.ts';
import type { ClaimedDelivery, NewDelivery } from '../db/repositories/outbound-deliveries.ts';
import type { AuditService } from './audit.ts';

/** A failure that no retry can cure (the client is gone, or no longer takes these calls). */
/** The kind of delivery a back-channel logout token is (OIDC Back-Channel Logout 1.0). */
export const BACKCHANNEL_LOGOUT = 'backchannel_logout';

export class PermanentDeliveryError extends Error {
  override name = 'PermanentDeliveryError';
}

/** One attempt, ready to go to where the delivery is to be sent now. */
export type PreparedAttempt = {
  /** Where this attempt goes (a client's current URI, which may differ from the one queued). */
  destination: string;
  /** Resolves when the destination accepted it, throws otherwise. */
  send(): Promise<void>;
};

/** Prepares one attempt; throws PermanentDeliveryError when there is nowhere to send it any more. */
export type Sender = (delivery: ClaimedDelivery) => Promise<PreparedAttempt>;

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
 * Attempts under way at once per process (slots). Each holds a database connection while it
 * records its outcome: a small number leaves the pool to the requests (and the embedded database,
 * which serves few connections to all processes, within its limit). Each attempt holds its slot
 * only until it ends, so one school system that hangs takes one slot, not everyone's turn.
 */
export const SLOTS = 4;

/**
 * Server-to-server calls (back-channel logout first) go through a queue in PostgreSQL: enqueued
 * inside the request that causes them, delivered by a worker in every process, retried with
 * backoff. Every attempt is logged; the audit trail gets a bounded few rows per delivery:
 * `<kind>.queued`, the first `<kind>.failed` (a dead endpoint would otherwise write one per retry,
 * some 32 a logout, for every logout), and the end: `<kind>.delivered` or `<kind>.given_up`.
 */
export class OutboundDeliveryService {
  private readonly repositories: Repositories;
  private readonly audit: AuditService;
  private readonly logger: Logger;
  private readonly schedule: RetrySchedule;
  private readonly senders = new Map<string, Sender>();
  private readonly queuedListeners: Array<() => void> = [];
  private readonly slotListeners: Array<() => void> = [];
  private readonly underWay = new Set<Promise<void>>();
  /** Slots promised to a claim still in flight, so two claims cannot overfill them. */
  private reserved = 0;
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

  /** Lets this process's worker claim more as soon as an attempt ends. */
  onSlotFreed(listener: () => void): void {
    this.slotListeners.push(listener);
  }

  get freeSlots(): number {
    return SLOTS - this.underWay.size - this.reserved;
  }

  /**
   * Claims as many due rows as there are free slots and starts an attempt for each without
   * waiting for it: each proceeds on its own and frees its slot when it ends. Answers how many it
   * claimed.
   */
  async startDue(): Promise<number> {
    const free = this.freeSlots;
    if (free <= 0) return 0;
    this.reserved += free;
    let claimed: ClaimedDelivery[];
    try {
      claimed = await this.repositories.outboundDeliveries.claimDue(free, LEASE_SECONDS, this.workerId);
    } finally {
      this.reserved -= free;
    }
    for (const delivery of claimed) {
      const attempt: Promise<void> = this.attempt(delivery)
        .catch((error: unknown) =>
          this.logger.warn(
            { err: error, ...this.logFields(delivery) },
            'could not record an outbound delivery outcome; the claim will expire and it will be retried',
          ),
        )
        .finally(() => {
          this.underWay.delete(attempt);
          for (const listener of this.slotListeners) listener();
        });
      this.underWay.add(attempt);
    }
    return claimed.length;
  }

  /** Resolves once no attempt is under way in this process. */
  async settled(): Promise<void> {
    while (this.underWay.size > 0) await Promise.all([...this.underWay]);
  }

  nextDueAt(): Promise<Date | null> {
    return this.repositories.outboundDeliveries.nextDueAt();
  }

  private async attempt(queued: ClaimedDelivery): Promise<void> {
    const sender = this.senders.get(queued.kind);
    // Logged and audited with where the attempt actually went, once that is known.
    let delivery = queued;
    try {
      if (!sender) throw new PermanentDeliveryError(`nothing in this process sends ${queued.kind}`);
      const prepared = await sender(queued);
      delivery = { ...queued, destination: prepared.destination };
      await prepared.send();
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
    const decision =
      error instanceof PermanentDeliveryError
        ? { giveUp: true as const }
        : afterFailure(delivery.attempts, delivery.createdAt, new Date(), this.schedule);
    const { outboundDeliveries } = this.repositories;
    if (decision.giveUp) {
      await outboundDeliveries.giveUp(delivery.id, delivery.claimToken, reason);
      this.logger.error({ ...this.logFields(delivery), reason }, 'outbound delivery given up');
      await this.record(delivery, 'given_up', 'failure', reason);
      return;
    }
    await outboundDeliveries.reschedule(delivery.id, delivery.claimToken, reason, decision.retryInSeconds);
    this.logger.warn(
      { ...this.logFields(delivery), reason, retryInSeconds: decision.retryInSeconds },
      'outbound delivery failed; will retry',
    );
    // Only the first failure goes to the audit trail; the retries are in the log and the row.
    if (delivery.previousError === null)
      await this.record(delivery, 'failed', 'failure', reason, { retryInSeconds: decision.retryInSeconds });
  }

  private record(
    delivery: ClaimedDelivery,
    what: string,
    outcome: 'success' | 'failure',
    reason?: string,
    extra: Record<string, unknown> = {},
  ) {
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
    return {
      delivery: delivery.id,
      kind: delivery.kind,
      clientId: delivery.clientId,
      destination: delivery.destination,
      attempt: delivery.attempts,
    };
  }
}

/** The error and its cause in one line (fetch failures hide the reason in `cause`). */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`.slice(0, 1000);
}
