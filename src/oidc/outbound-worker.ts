import type { Logger } from 'pino';
import type { OutboundDeliveryService } from '../domain/outbound.ts';

/** Rows queued by other processes are noticed within this time; this process's own at once. */
const POLL_MS = 5_000;

/**
 * Delivers the outbound queue from this process: at once when this process queues something or
 * one of its attempts ends (freeing a slot), when the earliest retry falls due, and on a poll for
 * what other processes queued. Every process runs one; the queue's claims keep them from sending
 * a row twice. It never waits for an attempt, only for claiming.
 */
export function startOutboundWorker(outbound: OutboundDeliveryService, logger: Logger) {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;

  const schedule = (ms: number) => {
    clearTimeout(timer);
    if (stopped) return;
    timer = setTimeout(kick, Math.max(0, Math.min(ms, POLL_MS)));
    timer.unref();
  };

  const run = async () => {
    let wait = POLL_MS;
    try {
      do {
        again = false;
        // Claim while slots are free and rows due; a claim short of the free slots drained them.
        while (!stopped && outbound.freeSlots > 0) {
          const free = outbound.freeSlots;
          if ((await outbound.startDue()) < free) break;
        }
      } while (again && !stopped);
      const due = await outbound.nextDueAt();
      if (due) wait = due.getTime() - Date.now();
    } catch (error) {
      logger.warn({ err: error }, 'outbound delivery run failed; will retry');
    }
    schedule(wait);
  };

  function kick() {
    if (stopped) return;
    if (running !== undefined) {
      again = true;
      return;
    }
    running = run().finally(() => {
      running = undefined;
    });
  }

  outbound.onQueued(kick);
  outbound.onSlotFreed(kick);
  kick();
  return {
    /** No new attempts; waits for those under way (queued rows stay in PostgreSQL). */
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      await outbound.settled();
    },
  };
}
