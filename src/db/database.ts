import { DataSource } from 'typeorm';
import { migrations } from '../../migrations/index.ts';
import { openEmbeddedDatabase, type EmbeddedDatabase, type EmbeddedRole } from './embedded.ts';
import { entities } from './entities/index.ts';
import { withoutNamedStatements } from './prepared.ts';
import { probeWritable } from './write-probe.ts';

export type Database = {
  dataSource: DataSource;
  /** Where to open a connection of one's own (the change feed's LISTEN). */
  url: string;
  /** Whether this process serves the embedded database (only one process can). */
  embeddedOwner: boolean;
  migrate(): Promise<void>;
  ping(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
};

export type DatabaseOptions = {
  databaseUrl: string | undefined;
  dataDir: string;
  poolSize?: number;
  role?: EmbeddedRole;
  /** Embedded only: the owner file stopped naming this process; the caller must stop. */
  onEmbeddedLockLost?: (message: string) => void;
};

/** Any constant works: it only has to be the same in every Gatehouse process. */
const MIGRATION_LOCK_KEY = 4_711_2026;

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const embedded: EmbeddedDatabase | undefined = options.databaseUrl
    ? undefined
    : await openEmbeddedDatabase(options.dataDir, options.role, { onLockLost: options.onEmbeddedLockLost });
  const url = options.databaseUrl ?? embedded!.url;
  const dataSource = new DataSource({
    type: 'postgres',
    url,
    entities,
    migrations,
    migrationsTableName: 'schema_migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: false,
    extra: {
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: 5_000,
      // Keeps a dead server from hanging a request forever; /readyz reports it instead.
      query_timeout: 15_000,
    },
  });
  if (embedded) withoutNamedStatements(dataSource);
  try {
    await dataSource.initialize();
  } catch (error) {
    await embedded?.close();
    throw error;
  }
  return {
    dataSource,
    url,
    embeddedOwner: embedded?.owner ?? false,
    migrate: () => runMigrationsExclusively(dataSource),
    async ping(timeoutMs = 2_000) {
      await withTimeout(dataSource.query('SELECT 1'), timeoutMs, 'database did not answer');
      // Embedded: the database's disk is ours to watch, and a full one still answers SELECT 1.
      if (!options.databaseUrl) await withTimeout(probeWritable(options.dataDir), timeoutMs, 'the embedded database disk did not answer');
    },
    async close() {
      if (dataSource.isInitialized) await dataSource.destroy();
      await embedded?.close();
    },
  };
}

/** Several processes may start together: an advisory lock lets exactly one apply migrations. */
async function runMigrationsExclusively(dataSource: DataSource): Promise<void> {
  const runner = dataSource.createQueryRunner();
  try {
    await runner.connect();
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      await dataSource.runMigrations({ transaction: 'each' });
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await runner.release();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
