import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import lockfile from 'proper-lockfile';

/**
 * PGlite is single-process: the first process to take the lock on DATA_DIR/pgdata owns the
 * database and serves it on a Unix socket; every other process (the admin CLI while the server
 * runs, a second server) connects through that socket with the ordinary `pg` driver.
 */
export type EmbeddedDatabase = {
  /** Connection string for `pg` pointing at the socket directory. */
  url: string;
  /** True when this process opened PGlite itself. */
  owner: boolean;
  close(): Promise<void>;
};

const SOCKET_PORT = 5432;
const MAX_CONNECTIONS = 16;

export async function openEmbeddedDatabase(dataDir: string): Promise<EmbeddedDatabase> {
  const pgdata = path.join(dataDir, 'pgdata');
  const socketDir = path.join(dataDir, 'run');
  const socketPath = path.join(socketDir, `.s.PGSQL.${SOCKET_PORT}`);
  await fs.mkdir(pgdata, { recursive: true, mode: 0o700 });
  await fs.mkdir(socketDir, { recursive: true, mode: 0o700 });
  const url = `postgresql://postgres@localhost/postgres?host=${encodeURIComponent(socketDir)}&port=${SOCKET_PORT}`;

  for (let attempt = 0; attempt < 50; attempt += 1) {
    const release = await tryLock(pgdata);
    if (release) return serve(pgdata, socketPath, url, release);
    if (await socketAnswers(socketPath)) return { url, owner: false, close: async () => {} };
    // The owner holds the lock but is still starting: wait for its socket.
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`The embedded database in ${dataDir} is locked by another process that does not answer.`);
}

async function serve(
  pgdata: string,
  socketPath: string,
  url: string,
  release: () => Promise<void>,
): Promise<EmbeddedDatabase> {
  try {
    await fs.rm(socketPath, { force: true });
    const db = await PGlite.create({ dataDir: pgdata });
    const server = new PGLiteSocketServer({ db, path: socketPath, maxConnections: MAX_CONNECTIONS });
    await server.start();
    return {
      url,
      owner: true,
      async close() {
        await server.stop();
        await db.close();
        await fs.rm(socketPath, { force: true });
        await release();
      },
    };
  } catch (error) {
    await release();
    throw error;
  }
}

async function tryLock(directory: string): Promise<(() => Promise<void>) | undefined> {
  try {
    return await lockfile.lock(directory, { stale: 10_000, update: 2_000, realpath: false });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOCKED') return undefined;
    throw error;
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
