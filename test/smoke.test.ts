import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { freePort } from './support/gatehouse.ts';

/**
 * The newcomer's path: `npm start` with nothing configured (embedded database under DATA_DIR)
 * answers /healthz, the CLI works while it runs, and data and keys survive a restart.
 */
const ROOT = path.resolve(import.meta.dirname, '..');
const NODE = path.join(ROOT, 'node_modules/.bin/node');

let storage: TestStorage;

beforeAll(async () => {
  storage = await createTestStorage();
});

afterAll(async () => {
  await storage?.drop();
});

async function startProcess(port: number) {
  const env = { ...process.env, PORT: String(port), DATA_DIR: storage.dataDir, DATABASE_URL: storage.databaseUrl ?? '', LOG_LEVEL: 'warn' };
  const child = spawn(NODE, ['src/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const response = await fetch(`http://localhost:${port}/healthz`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`Gatehouse did not start:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    stop: () =>
      new Promise<number | null>((resolve) => {
        child.once('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      }),
  };
}

test('start, health, CLI alongside the server, graceful stop, restart with the same data and keys', async () => {
  const port = await freePort();
  const first = await startProcess(port);
  expect(await (await fetch(`http://localhost:${port}/readyz`)).json()).toEqual({ status: 'ok', database: 'ok' });
  const kid = ((await (await fetch(`http://localhost:${port}/jwks`)).json()) as { keys: Array<{ kid: string }> }).keys[0]!.kid;

  const env = { ...process.env, DATA_DIR: storage.dataDir, DATABASE_URL: storage.databaseUrl ?? '' };
  const added = await promisify(execFile)(NODE, ['src/admin/cli.ts', 'school', 'add', '--name', 'Smoke School', '--postcode', 'SM1 0KE', '--json'], { cwd: ROOT, env });
  const schoolId = JSON.parse(added.stdout).id;
  expect(await first.stop()).toBe(0);

  const second = await startProcess(port);
  expect(((await (await fetch(`http://localhost:${port}/jwks`)).json()) as { keys: Array<{ kid: string }> }).keys[0]!.kid).toBe(kid);
  const listed = await promisify(execFile)(NODE, ['src/admin/cli.ts', 'school', 'list', '--json'], { cwd: ROOT, env });
  expect(JSON.parse(listed.stdout).schools).toEqual([{ id: schoolId, name: 'Smoke School', postcode: 'SM1 0KE' }]);
  expect(await second.stop()).toBe(0);
}, 120_000);

test('bad configuration stops the process with one clear sentence', async () => {
  const env = { ...process.env, PORT: 'eighty', DATA_DIR: storage.dataDir };
  const failure = await promisify(execFile)(NODE, ['src/main.ts'], { cwd: ROOT, env }).catch((error) => error);
  expect(failure.code).toBe(1);
  expect(failure.stderr.trim()).toMatch(/^Configuration error: PORT .+\.$/);
  expect(failure.stderr).not.toContain('    at ');
});
