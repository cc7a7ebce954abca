import cluster from 'node:cluster';
import type { RunningGatehouse } from './app.ts';
import { ConfigError } from './config/config-error.ts';
import { type AppConfig, loadConfig } from './config/index.ts';
import { createLogger } from './logger.ts';

/** Time after the drain deadline for the mail, audit, pool and embedded database to close. */
const FORCE_EXIT_GRACE_SECONDS = 10;
/** The primary waits this much longer than a worker's own deadline before killing it. */
const PRIMARY_GRACE_SECONDS = 5;

function failToStart(sentence: string): never {
  process.stderr.write(`${sentence}\n`);
  process.exit(1);
}

function loadConfigOrExit(): AppConfig {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) failToStart(error.message);
    throw error;
  }
}

async function main() {
  const config = loadConfigOrExit();
  if (config.workers > 1 && cluster.isPrimary) {
    if (!config.databaseUrl) {
      failToStart(
        'Configuration error: WORKERS above 1 needs DATABASE_URL: the embedded database is served by a single process; set DATABASE_URL to a PostgreSQL server, or leave WORKERS at 1.',
      );
    }
    // Imported here so that a single process never loads it, and the primary loads nothing else.
    const { runPrimary } = await import('./cluster.ts');
    runPrimary({
      workers: config.workers,
      stopDeadlineMs: (config.shutdownTimeoutSeconds + FORCE_EXIT_GRACE_SECONDS + PRIMARY_GRACE_SECONDS) * 1000,
      logger: createLogger(config.logLevel, { pid: process.pid }),
    });
    await releaseStartupMemory();
    return;
  }
  await serve(config);
}

/** One Gatehouse in this process: the whole service with WORKERS=1, or one worker of several. */
async function serve(config: AppConfig) {
  const logger = createLogger(config.logLevel, cluster.worker ? { worker: cluster.worker.id, pid: process.pid } : {});
  const [{ startGatehouse }, { MasterKeyMismatchError }] = await Promise.all([import('./app.ts'), import('./auth/master-key.ts')]);
  let running: RunningGatehouse | undefined;
  try {
    running = await startGatehouse(config, logger, (message) => {
      logger.fatal(message);
      if (running) void stop('fatal', 1);
      else process.exit(1); // still starting: nothing to drain yet
    });
  } catch (error) {
    const known = error instanceof MasterKeyMismatchError;
    failToStart(known ? (error as Error).message : `Gatehouse could not start: ${(error as Error).message}`);
  }
  let stopping = false;
  const stop = async (signal: string, exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // close() cuts requests at the deadline; this only catches a close that itself hangs.
    const force = setTimeout(
      () => {
        logger.error('shutdown did not finish in time; exiting without closing the database cleanly');
        process.exit(1);
      },
      (config.shutdownTimeoutSeconds + FORCE_EXIT_GRACE_SECONDS) * 1000,
    );
    force.unref();
    try {
      await running?.close();
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
    process.exit(exitCode);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  await releaseStartupMemory();
}

/**
 * Starting leaves V8's young generation at its largest (loading and compiling every module
 * allocates fast), and an idle process never shrinks it: about 35 MB of resident memory held for
 * nothing. One memory-reducing collection once serving gives it back; it grows again only as load
 * requires. The in-process inspector session opens no port. Best effort: Node built without the
 * inspector simply keeps the memory.
 */
async function releaseStartupMemory() {
  try {
    const { Session } = await import('node:inspector/promises');
    const session = new Session();
    session.connect();
    try {
      await session.post('HeapProfiler.collectGarbage');
    } finally {
      session.disconnect();
    }
  } catch {
    // Nothing to do: the process serves all the same.
  }
}

await main();
