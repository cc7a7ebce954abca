import net from 'node:net';
import pino from 'pino';
import { startGatehouse, type RunningGatehouse } from '../../src/app.ts';
import { loadConfig } from '../../src/config/index.ts';
import type { TestStorage } from './database.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export type TestGatehouse = RunningGatehouse & { issuer: string; env: Record<string, string> };

/** A real Gatehouse on a free port, configured the way an operator would through the environment. */
export async function startTestGatehouse(storage: TestStorage, extraEnv: Record<string, string> = {}): Promise<TestGatehouse> {
  const port = await freePort();
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    PORT: String(port),
    DATA_DIR: storage.dataDir,
    LOG_LEVEL: 'silent',
    ...(storage.databaseUrl ? { DATABASE_URL: storage.databaseUrl } : {}),
    ...extraEnv,
  };
  const config = loadConfig(env);
  const running = await startGatehouse(config, pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }));
  return { ...running, issuer: config.issuer, env };
}

/**
 * Time passes for an account's sessions: the sign-in, and every fresh proof stored, move
 * `seconds` into the past. What a thief finds in a browser left signed in.
 */
export async function ageSessionsOf(gatehouse: RunningGatehouse, accountId: string, seconds = 600): Promise<void> {
  await gatehouse.database.dataSource.query(
    `UPDATE oidc_payloads SET payload = jsonb_set(payload, '{loginTs}', to_jsonb((payload->>'loginTs')::bigint - $2))
      WHERE model = 'Session' AND payload->>'accountId' = $1`,
    [accountId, seconds],
  );
  await gatehouse.database.dataSource.query(
    `UPDATE session_proofs SET proven_at = proven_at - make_interval(secs => $2) WHERE account_id = $1`,
    [accountId, seconds],
  );
}
