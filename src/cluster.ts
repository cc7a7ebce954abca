import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';

/**
 * WORKERS > 1: this process is only a supervisor (node:cluster's primary). It never opens the
 * database nor loads the provider; each worker runs a whole Gatehouse and they share the port
 * (the primary accepts connections and hands them round-robin to the workers).
 *
 * The first worker starts alone: if the configuration, the secrets key or the database is wrong it
 * says so in one sentence and the primary exits 1 with it, as a single process would. Once it
 * serves, the others start together (migrations are already applied, the master key file exists).
 * A worker that dies later is replaced, never sooner than a second after the previous start, and
 * with a doubling wait while replacements fail to start; after a few such failures in a row the
 * primary gives up and stops everything with exit code 1.
 */
export type PrimaryOptions = {
  workers: number;
  /** After this long, workers still draining after SIGTERM are killed and the primary exits 1. */
  stopDeadlineMs: number;
  logger: Logger;
};

const RESTART_SPACING_MS = 1_000;
const RESTART_SPACING_MAX_MS = 30_000;
/** Replacement workers that exit before serving, in a row, before the primary gives up. */
const MAX_FAILED_STARTS = 5;

export function runPrimary({ workers, stopDeadlineMs, logger }: PrimaryOptions): void {
  const live = new Set<Worker>();
  const serving = new Set<Worker>();
  let everServed = false;
  let failedStarts = 0;
  let lastForkAt = 0;
  let queuedRestarts = 0;
  let restartTimer: NodeJS.Timeout | undefined;
  let stopping: { signal: NodeJS.Signals; exitCode: number } | undefined;

  const fork = () => {
    lastForkAt = Date.now();
    const worker = cluster.fork();
    live.add(worker);
    // An IPC failure must not take the primary down with it.
    worker.on('error', (error) => logger.error({ err: error, worker: worker.id }, 'worker channel error'));
  };

  /** Replacements go one at a time, spaced out, the spacing doubling while they fail to start. */
  const restartLater = () => {
    queuedRestarts += 1;
    scheduleRestart();
  };
  const scheduleRestart = () => {
    if (restartTimer || queuedRestarts === 0 || stopping) return;
    const spacing = Math.min(RESTART_SPACING_MAX_MS, RESTART_SPACING_MS * 2 ** failedStarts);
    restartTimer = setTimeout(
      () => {
        restartTimer = undefined;
        queuedRestarts -= 1;
        fork();
        scheduleRestart();
      },
      Math.max(0, lastForkAt + spacing - Date.now()),
    );
  };

  const stop = (signal: NodeJS.Signals, exitCode = 0) => {
    if (stopping) return;
    stopping = { signal, exitCode };
    clearTimeout(restartTimer);
    if (live.size === 0) process.exit(exitCode);
    for (const worker of live) worker.process.kill(signal);
    const force = setTimeout(() => {
      logger.error({ workers: [...live].map((worker) => worker.process.pid) }, 'workers did not stop in time; killing them');
      for (const worker of live) worker.process.kill('SIGKILL');
      process.exit(1);
    }, stopDeadlineMs);
    force.unref();
  };

  cluster.on('listening', (worker) => {
    if (serving.has(worker)) return;
    serving.add(worker);
    failedStarts = 0;
    if (everServed) return;
    everServed = true;
    for (let started = 1; started < workers; started += 1) fork();
  });

  cluster.on('exit', (worker, code, signal) => {
    live.delete(worker);
    const served = serving.delete(worker);
    if (stopping) {
      // Killed by the very signal before it could serve (still starting): nothing was left to drain.
      const clean = code === 0 || (!served && signal === stopping.signal);
      if (!clean) stopping.exitCode = 1;
      if (live.size === 0) process.exit(stopping.exitCode);
      return;
    }
    // The first worker could not start: it has said why on stderr, as a single process would.
    if (!everServed) process.exit(1);
    if (!served) failedStarts += 1;
    if (failedStarts >= MAX_FAILED_STARTS) {
      logger.fatal({ failedStarts }, 'replacement workers keep failing to start; stopping');
      stop('SIGTERM', 1);
      return;
    }
    logger.error({ worker: worker.id, workerPid: worker.process.pid, code, signal }, 'worker exited unexpectedly; starting another');
    restartLater();
  });

  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  logger.info({ workers }, 'gatehouse primary');
  fork();
}
