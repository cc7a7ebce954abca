import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { AppConfig } from './config/index.ts';
import { openDatabase, type Database } from './db/database.ts';
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
export async function startGatehouse(config: AppConfig, logger: Logger): Promise<RunningGatehouse> {
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    await database.migrate();
    const services = await createServices(database, config, logger);
    const { provider, keys, render } = await services.oidc();
    const app = await createServer({ provider, services, render, csrfKey: keys.csrfKey, ping: () => database.ping(), logger });
    const sweeper = startSweeper(services.repositories, config.sweepIntervalSeconds, logger);
    const outboundWorker = startOutboundWorker(services.outbound, logger);
    const server = http.createServer(app.callback());
    server.keepAliveTimeout = 5_000;
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
        // Finish in-flight requests (and the mail they started), then drop idle connections.
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await Promise.all([closed, sweeper.stop(), outboundWorker.stop()]);
        await services.passwordReset.drain();
        services.mailer.close();
        await database.close();
      },
    };
  } catch (error) {
    await database.close();
    throw error;
  }
}
