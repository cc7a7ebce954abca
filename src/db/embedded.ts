import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { attemptLock, type EmbeddedRole, type OwnerLock, type OwnerRecord } from './embedded-lock.ts';

/**
 * PGlite is single-process: the process holding DATA_DIR/pgdata.owner owns the database and
 * serves it on a Unix socket; others connect through that socket with the ordinary `pg` driver.
 * The owner file says who owns it and in which role: a running server is joined (and waited for
 * while it does not answer, e.g. paused), while a short-lived owner (an admin command) is waited
 * for, so the long-lived server ends up owning the database. An owner is replaced only when its
 * process no longer exists (embedded-lock.ts), never because it has been quiet for a while.
 */
export type { EmbeddedRole } from './embedded-lock.ts';
export type EmbeddedDatabase = {
  /** Connection string for `pg` pointing at the socket directory. */
  url: string;
  /** True when this process opened PGlite itself. */
  owner: boolean;
  close(): Promise<void>;
};

export type EmbeddedOptions = {
  /** How long to wait for another owner to finish or answer (default: a minute). */
  waitMs?: number;
  /**
   * Called once if the owner file stops naming this process (removed or replaced by hand):
   * another process may be opening the data, so the caller must stop. Never throws.
   */
  onLockLost?: (message: string) => void;
};

const SOCKET_PORT = 5432;
const MAX_CONNECTIONS = 16;
const WAIT_MS = 60_000;
const WATCH_INTERVAL_MS = 2_000;

/** Another process holds the embedded database and did not finish or answer in time. */
export class EmbeddedDatabaseBusyError extends Error {}

export async function openEmbeddedDatabase(
  dataDir: string,
  role: EmbeddedRole = 'server',
  options: EmbeddedOptions = {},
): Promise<EmbeddedDatabase> {
  const pgdata = path.join(dataDir, 'pgdata');
  const socketDir = path.join(dataDir, 'run');
  const socketPath = path.join(socketDir, `.s.PGSQL.${SOCKET_PORT}`);
  await fs.mkdir(pgdata, { recursive: true, mode: 0o700 });
  await fs.mkdir(socketDir, { recursive: true, mode: 0o700 });
  const url = `postgresql://postgres@localhost/postgres?host=${encodeURIComponent(socketDir)}&port=${SOCKET_PORT}`;

  const deadline = Date.now() + (options.waitMs ?? WAIT_MS);
  let owner: OwnerRecord | undefined;
  for (;;) {
    const attempt = await attemptLock(path.join(dataDir, 'pgdata.owner'), role);
    if ('lock' in attempt) return serve(pgdata, socketPath, url, attempt.lock, options.onLockLost);
    if ('owner' in attempt) {
      owner = attempt.owner;
      if (owner.role === 'server' && (await socketAnswers(socketPath))) {
        if (await serverAnswers(url, deadline - Date.now())) return { url, owner: false, close: async () => {} };
      }
    }
    if (Date.now() >= deadline) throw new EmbeddedDatabaseBusyError(busySentence(dataDir, owner, options.waitMs ?? WAIT_MS));
    // The owner is a command about to finish, or a server still starting: wait for it.
    if (!('retry' in attempt)) await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function busySentence(dataDir: string, owner: OwnerRecord | undefined, waitMs: number): string {
  const who = owner
    ? `${owner.role === 'server' ? 'a Gatehouse server' : 'an admin command'} (process ${owner.pid} on ${owner.host})`
    : 'another process';
  return `The embedded database in ${dataDir} is held by ${who}, which has not finished or answered for ${Math.round(waitMs / 1000)} s; nothing was changed. Try again once it answers, or stop it.`;
}

async function serve(
  pgdata: string,
  socketPath: string,
  url: string,
  lock: OwnerLock,
  onLockLost: ((message: string) => void) | undefined,
): Promise<EmbeddedDatabase> {
  try {
    await fs.rm(socketPath, { force: true });
    // Loaded only by the process that opens the database: with DATABASE_URL, never.
    const [{ PGlite }, { PGLiteSocketServer }] = await Promise.all([import('@electric-sql/pglite'), import('@electric-sql/pglite-socket')]);
    const db = await PGlite.create({ dataDir: pgdata });
    const server = new PGLiteSocketServer({ db, path: socketPath, maxConnections: MAX_CONNECTIONS });
    await server.start();
    const watch = watchLock(lock, onLockLost);
    return {
      url,
      owner: true,
      async close() {
        clearInterval(watch);
        await server.stop();
        await db.close();
        await fs.rm(socketPath, { force: true });
        await lock.release();
      },
    };
  } catch (error) {
    await lock.release();
    throw error;
  }
}

/** Checks now and then that the owner file still names this process; reports a loss once. */
function watchLock(lock: OwnerLock, onLockLost: ((message: string) => void) | undefined): NodeJS.Timeout {
  let reported = false;
  const timer = setInterval(() => {
    void lock.stillOurs().then((ours) => {
      if (ours || reported) return;
      reported = true;
      clearInterval(timer);
      try {
        onLockLost?.(
          `The embedded database owner file ${lock.path} no longer names this process (removed or replaced by hand?); stopping so that two processes never write one database.`,
        );
      } catch {
        // A report must never crash the process it reports on.
      }
    });
  }, WATCH_INTERVAL_MS);
  timer.unref();
  return timer;
}

/**
 * Whether the server behind the socket answers a query within `waitMs`. A paused server's socket
 * still accepts connections (the kernel queues them), so only an answer proves it is running.
 */
async function serverAnswers(url: string, waitMs: number): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: Math.max(waitMs, 1), query_timeout: Math.max(waitMs, 1) });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

function socketAnswers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
