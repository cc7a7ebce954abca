import type { Logger } from 'pino';
import { THROTTLE, UNKNOWN_ADDRESS_STREAKS } from '../auth/throttle.ts';
import type { Repositories } from '../db/repositories/index.ts';

/** oidc-provider accepts 15 s of clock skew; rows are kept a minute past expiry to be safe. */
const GRACE_MS = 60_000;

/** Deletes expired provider rows and reset links on a schedule; any process may run it. */
export function startSweeper(repositories: Repositories, intervalSeconds: number, logger: Logger) {
  const sweep = async () => {
    try {
      const before = new Date(Date.now() - GRACE_MS);
      const payloads = await repositories.oidcPayloads.deleteExpired(before);
      const resetLinks = await repositories.resetTokens.deleteExpired(new Date(Date.now() - 86_400_000));
      const counters = await repositories.throttle.deleteStale(new Date(Date.now() - 86_400_000));
      // Those of accounts wait for a success or the helpdesk; an address with no account has neither.
      const unknownAddressStreaks = await repositories.throttle.deleteStreaksUntouched(
        UNKNOWN_ADDRESS_STREAKS,
        new Date(Date.now() - THROTTLE.forgetUnknownAfterDays * 86_400_000),
      );
      const schoolChoices = await repositories.grantSchools.deleteOrphans();
      // Fresh proof lasts minutes; an hour-old row can never count again.
      const sessionProofs = await repositories.sessionProofs.deleteOlderThan(new Date(Date.now() - 3_600_000));
      const deliveries = await repositories.outboundDeliveries.deleteFinished(new Date(Date.now() - 7 * 86_400_000));
      const challenges = await repositories.webauthnChallenges.deleteExpired(before);
      const swept = { payloads, resetLinks, counters, unknownAddressStreaks, schoolChoices, sessionProofs, deliveries, challenges };
      if (Object.values(swept).some((count) => count > 0)) logger.info(swept, 'swept expired rows');
    } catch (error) {
      logger.warn({ err: error }, 'sweep failed; will retry');
    }
  };
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = sweep();
  }, intervalSeconds * 1000);
  timer.unref();
  return {
    sweep,
    /** Stops the schedule and waits for a sweep in progress. */
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
