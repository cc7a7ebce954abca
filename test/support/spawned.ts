import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pino from 'pino';
import { loadConfig } from '../../src/config/index.ts';
import { openDatabase, type Database } from '../../src/db/database.ts';
import { createServices, type Services } from '../../src/services.ts';
import { createTestStorage, type TestStorage } from './database.ts';
import { freePort } from './gatehouse.ts';
import { NODE, ROOT, spawnGatehouse } from './process.ts';

export type SpawnedGatehouse = Awaited<ReturnType<typeof spawnGatehouse>>;

export type SpawnedOptions = {
  /** What the process must find when it starts (schools, clients, staff), written through the test's services. */
  prepare?: (services: Services) => Promise<void>;
  /** More of the operator's environment. A function is called after `prepare`, for values `prepare` made. */
  env?: Record<string, string> | (() => Record<string, string>);
};

/** What a test file's beforeAll made; each getter throws until beforeAll has run. */
export type SpawnedWorld = {
  readonly storage: TestStorage;
  readonly database: Database;
  /** The test's own services on the same database: no server, so the only provider is the spawned one. */
  readonly services: Services;
  /** Gatehouse in its own OS process, where oidc-provider's outbound guard is live (it is not inside Jest). */
  readonly gatehouse: SpawnedGatehouse;
};

/**
 * One Gatehouse in its own process for the test file: registers beforeAll (storage, the database
 * migrated, services to prepare data with, then the process) and afterAll (the process stopped,
 * which must exit 0, then the rest closed), and returns the world they make.
 */
export function useSpawnedGatehouse(options: SpawnedOptions = {}): SpawnedWorld {
  const made: { -readonly [K in keyof SpawnedWorld]?: SpawnedWorld[K] } = {};
  const got = <K extends keyof SpawnedWorld>(key: K): SpawnedWorld[K] => {
    const value = made[key];
    if (value === undefined) throw new Error(`useSpawnedGatehouse: no ${key} (beforeAll has not run)`);
    return value as SpawnedWorld[K];
  };
  const world: SpawnedWorld = {
    get storage() {
      return got('storage');
    },
    get database() {
      return got('database');
    },
    get services() {
      return got('services');
    },
    get gatehouse() {
      return got('gatehouse');
    },
  };

  beforeAll(async () => {
    const storage = await createTestStorage();
    made.storage = storage;
    const database = await openDatabase({ databaseUrl: storage.databaseUrl, dataDir: storage.dataDir });
    made.database = database;
    await database.migrate();
    const config = loadConfig({ DATA_DIR: storage.dataDir, ...(storage.databaseUrl ? { DATABASE_URL: storage.databaseUrl } : {}) });
    const services = await createServices(database, config, pino({ level: 'silent' }));
    made.services = services;
    await options.prepare?.(services);
    const env = typeof options.env === 'function' ? options.env() : options.env;
    made.gatehouse = await spawnGatehouse(storage, await freePort(), env);
  }, 60_000);

  afterAll(async () => {
    const exitCode = await made.gatehouse?.stop();
    made.services?.mailer.close();
    await made.database?.close();
    await made.storage?.drop();
    if (made.gatehouse && exitCode !== 0) throw new Error(`Gatehouse exited with ${exitCode}:\n${made.gatehouse.output()}`);
  });

  return world;
}

/**
 * The admin CLI (`npm run admin --`) in its own process, as an operator runs it, against a test's
 * storage: what it printed. Any running Gatehouse on that storage hears of its changes as it would in production.
 */
export async function adminCli(storage: Pick<TestStorage, 'databaseUrl' | 'dataDir'>, args: string[]): Promise<string> {
  const env = { ...process.env, DATA_DIR: storage.dataDir, DATABASE_URL: storage.databaseUrl ?? '', LOG_LEVEL: 'silent' };
  const { stdout } = await promisify(execFile)(NODE, ['src/admin/cli.ts', ...args], { cwd: ROOT, env });
  return stdout;
}

/** The admin CLI with `--json`: its answer, parsed. */
export async function adminCliJson<T = Record<string, unknown>>(storage: Pick<TestStorage, 'databaseUrl' | 'dataDir'>, ...args: string[]) {
  return JSON.parse(await adminCli(storage, [...args, '--json'])) as T;
}

/**
 * Reads until `check` holds, and answers the value that passed: what another process changed must
 * arrive there within `seconds`. Throws with the last value read if it does not.
 */
export async function within<T>(seconds: number, read: () => Promise<T>, check: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`still ${JSON.stringify(value)} after ${seconds} s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
