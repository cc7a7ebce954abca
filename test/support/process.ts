import { spawn } from 'node:child_process';
import path from 'node:path';
import type { TestStorage } from './database.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const NODE = path.join(ROOT, 'node_modules/.bin/node');

/**
 * Gatehouse as its own OS process (`node src/main.ts`), as an operator runs it; `launcher` is a
 * command to run it under (e.g. `unshare … sh -c '…; exec "$@"' sh`).
 */
export async function spawnGatehouse(
  storage: Pick<TestStorage, 'databaseUrl' | 'dataDir'>,
  port: number,
  extraEnv: Record<string, string> = {},
  launcher: string[] = [],
) {
  const env = {
    ...process.env,
    PORT: String(port),
    DATA_DIR: storage.dataDir,
    DATABASE_URL: storage.databaseUrl ?? '',
    LOG_LEVEL: 'warn',
    ...extraEnv,
  };
  const [command, ...args] = [...launcher, NODE, 'src/main.ts'];
  const child = spawn(command!, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const url = `http://localhost:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`Gatehouse did not start:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    url,
    pid: child.pid!,
    running: () => child.exitCode === null && child.signalCode === null,
    output: () => output,
    stop: () =>
      new Promise<number | null>((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      }),
  };
}
