import { startGatehouse, type RunningGatehouse } from './app.ts';
import { ConfigError } from './config/config-error.ts';
import { loadConfig } from './config/index.ts';
import { MasterKeyMismatchError } from './auth/master-key.ts';
import { createLogger } from './logger.ts';

/** Time after the drain deadline for the mail, audit, pool and embedded database to close. */
const FORCE_EXIT_GRACE_SECONDS = 10;

async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  let running: RunningGatehouse | undefined;
  try {
    running = await startGatehouse(config, logger, (message) => {
      logger.fatal(message);
      if (running) void stop('fatal', 1);
      else process.exit(1); // still starting: nothing to drain yet
    });
  } catch (error) {
    const known = error instanceof MasterKeyMismatchError;
    process.stderr.write(`${known ? (error as Error).message : `Gatehouse could not start: ${(error as Error).message}`}\n`);
    process.exit(1);
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
}

await main();
