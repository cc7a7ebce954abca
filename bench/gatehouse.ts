import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import argon2 from 'argon2';
import pg from 'pg';
import { describePasswordHash, parsePasswordHash } from '../src/config/password-hash.ts';
import { type Child, NODE, ROOT, spawnNode, stopChild, waitUntilAnswering } from './children.ts';

const run = promisify(execFile);

/** Where Gatehouse keeps its data for this run: a scratch PostgreSQL database, or PGlite under DATA_DIR. */
export type Storage = {
  kind: 'postgresql' | 'embedded';
  /** DATABASE_URL for Gatehouse; unset for the embedded database. */
  databaseUrl: string | undefined;
  drop(): Promise<void>;
};

/**
 * A fresh database on the PostgreSQL at `serverUrl`, or undefined when none answers there (the
 * caller then uses the embedded database).
 */
export async function scratchPostgres(serverUrl: string): Promise<Storage | undefined> {
  const name = `gatehouse_bench_${Date.now()}_${process.pid}`;
  const admin = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 3_000 });
  try {
    await admin.connect();
  } catch {
    return undefined;
  }
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const databaseUrl = new URL(serverUrl);
  databaseUrl.pathname = `/${name}`;
  return {
    kind: 'postgresql',
    databaseUrl: databaseUrl.href,
    async drop() {
      const client = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 3_000 });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** PGlite under DATA_DIR: removed with the temporary directory. */
export const embeddedStorage: Storage = { kind: 'embedded', databaseUrl: undefined, drop: async () => {} };

export type Gatehouse = {
  child: Child;
  issuer: string;
  env: NodeJS.ProcessEnv;
  /** A `pg` connection string reaching the same database (the embedded one through its socket). */
  sqlUrl: string;
};

export async function startGatehouse(options: {
  storage: Storage;
  port: number;
  dataDir: string;
  workers: number | undefined;
  logFile: string;
}): Promise<Gatehouse> {
  const issuer = `http://localhost:${options.port}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(options.port),
    ISSUER: issuer,
    DATA_DIR: options.dataDir,
    LOG_LEVEL: 'warn',
    SECRETS_KEY: crypto.randomBytes(32).toString('base64'),
  };
  delete env.DATABASE_URL;
  if (options.storage.databaseUrl) env.DATABASE_URL = options.storage.databaseUrl;
  if (options.workers !== undefined) env.WORKERS = String(options.workers);
  const child = spawnNode('Gatehouse', 'src/main.ts', env, options.logFile);
  try {
    await waitUntilAnswering(child, `${issuer}/readyz`);
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  // The embedded database's socket, as src/db/embedded.ts serves it.
  const socketDir = path.join(options.dataDir, 'run');
  const sqlUrl = options.storage.databaseUrl ?? `postgresql://postgres@localhost/postgres?host=${encodeURIComponent(socketDir)}&port=5432`;
  return { child, issuer, env, sqlUrl };
}

export type Credentials = { clientId: string; clientSecret: string };

export type Seed = {
  machine: Credentials;
  schoolSystem: Credentials & { redirectUri: string };
  /** One account per simulated browser, all with the same password. */
  emails: string[];
  password: string;
  /** The PHC string stored for the account (the argon2 reference verifies this very string). */
  passwordHash: string;
  /** PASSWORD_HASH as Gatehouse reads it, e.g. `argon2id:m=19456,t=2,p=1`. */
  passwordHashSetting: string;
};

/**
 * A school, a machine client, a school system and `accounts` basic members, through the real
 * admin CLI. One account per browser, as staff sharing a school's IP are: Gatehouse counts every
 * password attempt of an (IP, account) before checking it, so 4 sign-ins of one account at once
 * would be slowed down as guessing. Staff set their own password by email link, so the benchmark
 * writes the hash directly.
 */
export async function seed(gatehouse: Gatehouse, redirectUri: string, accounts: number): Promise<Seed> {
  const admin = (...args: string[]) => adminJson(gatehouse.env, args);
  const school = await admin('school', 'add', '--name', 'Bench Primary School', '--postcode', 'BE1 1NC');
  const schoolId = String(school.id);
  const emails = Array.from({ length: accounts }, (_, index) => `bench-${index + 1}@example.org`);
  const [machine, schoolSystem] = await Promise.all([
    admin('client', 'add', '--name', 'Bench machine', '--school', schoolId, '--grant-type', 'client_credentials'),
    admin('client', 'add', '--name', 'Bench school system', '--school', schoolId, '--redirect-uri', redirectUri),
  ]);
  for (const email of emails) await admin('user', 'add', '--email', email, '--name', 'Bench User', '--school', `${schoolId}:basic`);
  const cost = parsePasswordHash(gatehouse.env.PASSWORD_HASH);
  const password = `bench-${crypto.randomBytes(12).toString('base64url')}`;
  const passwordHash = await argon2.hash(password, {
    type: argon2.argon2id,
    memoryCost: cost.memoryKiB,
    timeCost: cost.passes,
    parallelism: cost.parallelism,
  });
  await setPasswordHash(gatehouse.sqlUrl, emails, passwordHash);
  return {
    machine: credentialsOf(machine),
    schoolSystem: { ...credentialsOf(schoolSystem), redirectUri },
    emails,
    password,
    passwordHash,
    passwordHashSetting: describePasswordHash(cost),
  };
}

async function adminJson(env: NodeJS.ProcessEnv, args: string[]): Promise<Record<string, unknown>> {
  try {
    const { stdout } = await run(NODE, ['src/admin/cli.ts', ...args, '--json'], { cwd: ROOT, env });
    return JSON.parse(stdout) as Record<string, unknown>;
  } catch (error) {
    const { stderr } = error as { stderr?: string };
    throw new Error(`admin ${args.slice(0, 2).join(' ')} failed: ${stderr?.trim() || (error as Error).message}`);
  }
}

function credentialsOf(json: Record<string, unknown>): Credentials {
  return { clientId: String(json.client_id), clientSecret: String(json.client_secret) };
}

async function setPasswordHash(sqlUrl: string, emails: string[], passwordHash: string): Promise<void> {
  const updated = await query(sqlUrl, 'UPDATE accounts SET password_hash = $1 WHERE email = ANY($2)', [passwordHash, emails]);
  if (updated.rowCount !== emails.length) throw new Error(`set the password of ${updated.rowCount} accounts, not ${emails.length}`);
}

/** The PostgreSQL version behind Gatehouse (PGlite's, embedded). */
export async function databaseVersion(sqlUrl: string): Promise<string> {
  const result = await query(sqlUrl, 'SELECT version()', []);
  return String((result.rows[0] as { version: string }).version);
}

async function query(sqlUrl: string, text: string, values: unknown[]) {
  const client = new pg.Client({ connectionString: sqlUrl, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}
