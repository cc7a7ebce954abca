import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { AppConfig } from './config/index.ts';
import { openDatabase, type Database } from './db/database.ts';
import { drainable } from './http/drain.ts';
import { rehashStoredIds } from './oidc/bearer-storage.ts';
import { startOutboundWorker } from './oidc/outbound-worker.ts';
import { startSweeper } from './oidc/sweeper.ts';
import { createServer } from './server.ts';
import { createServices, type Services } from './services.ts';

export type RunningGatehouse = {
  url: string;
  services: Services;
  database: Database;
  close(): Promise<void>;
};

/** Opens storage, applies migrations, loads keys and serves HTTP until close(). */
export async function startGatehouse(
  config: AppConfig,
  logger: Logger,
  /** Something this process cannot recover from (the embedded database's owner file lost): stop. */
  onFatal?: (message: string) => void,
): Promise<RunningGatehouse> {
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    poolSize: config.databasePoolSize,
    onEmbeddedLockLost: onFatal,
  });
  let changeFeedOf: Services['changeFeed'] | undefined;
  try {
    await database.migrate();
    const services = await createServices(database, config, logger);
    changeFeedOf = services.changeFeed;
    // Before serving (the CLI never needs it): rows written before bearer ids were hashed.
    await rehashStoredIds(services.repositories.oidcPayloads, services.box);
    const { provider, keys, render, liveKeys } = await services.oidc();
    await services.changeFeed.start();
    let stopping = false;
    const ping = () => database.ping();
    const app = await createServer({ provider, services, render, csrfKey: keys.csrfKey, ping, stopping: () => stopping, logger });
    const sweeper = startSweeper(services.repositories, config.sweepIntervalSeconds, logger);
    const outboundWorker = startOutboundWorker(services.outbound, logger);
    const server = http.createServer(app.callback());
    server.keepAliveTimeout = 5_000;
    const drain = drainable(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, resolve);
    });
    const { port } = server.address() as AddressInfo;
    logger.info({ port, issuer: config.issuer, embedded: !config.databaseUrl }, 'gatehouse listening');
    if (config.issuer.startsWith('https:') && !config.trustProxy) {
      logger.warn('ISSUER is https but TRUST_PROXY is not set: behind a TLS proxy set TRUST_PROXY=true, or cookies will not be Secure');
    }
    return {
      url: `http://localhost:${port}`,
      services,
      database,
      async close() {
        // Not ready any more (load balancers stop sending), then finish requests in flight
        // (bounded), then the mail and audit events they started, and only then close the pool and
        // the embedded database they write through.
        stopping = true;
        const [{ cut }] = await Promise.all([drain(config.shutdownTimeoutSeconds * 1000), sweeper.stop(), outboundWorker.stop()]);
        if (cut > 0)
          logger.warn({ cut, timeoutSeconds: config.shutdownTimeoutSeconds }, 'requests still running at the shutdown deadline were cut');
        await Promise.all([services.passwordReset.drain(), services.authentication.drain()]);
        await services.changeFeed.stop();
        await liveKeys.settled();
        await services.audit.drain();
        services.mailer.close();
        await database.close();
        logger.info('stopped');
      },
    };
  } catch (error) {
    await changeFeedOf?.stop();
    await database.close();
    throw error;
  }
}
