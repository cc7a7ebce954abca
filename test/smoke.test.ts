import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { freePort } from './support/gatehouse.ts';
import { NODE, ROOT, spawnGatehouse } from './support/process.ts';

/**
 * The newcomer's path: `npm start` with nothing configured (embedded database under DATA_DIR)
 * answers /healthz, the CLI works while it runs, and data and keys survive a restart.
 */

let storage: TestStorage;

beforeAll(async () => {
  storage = await createTestStorage();
});

afterAll(async () => {
  await storage?.drop();
});

test('start, health, CLI alongside the server, graceful stop, restart with the same data and keys', async () => {
  const port = await freePort();
  const first = await spawnGatehouse(storage, port);
  expect(await (await fetch(`http://localhost:${port}/readyz`)).json()).toEqual({ status: 'ok', database: 'ok' });
  const kid = ((await (await fetch(`http://localhost:${port}/jwks`)).json()) as { keys: Array<{ kid: string }> }).keys[0]!.kid;

  const env = { ...process.env, DATA_DIR: storage.dataDir, DATABASE_URL: storage.databaseUrl ?? '' };
  const added = await promisify(execFile)(
    NODE,
    ['src/admin/cli.ts', 'school', 'add', '--name', 'Smoke School', '--postcode', 'SM1 0KE', '--json'],
    { cwd: ROOT, env },
  );
  const schoolId = JSON.parse(added.stdout).id;
  expect(await first.stop()).toBe(0);

  const second = await spawnGatehouse(storage, port);
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
