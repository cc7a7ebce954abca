import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import lockfile from 'proper-lockfile';

/**
 * PGlite is single-process: the process holding the lock on DATA_DIR/pgdata owns the database
 * and serves it on a Unix socket; others connect through that socket with the ordinary `pg`
 * driver. Who owns it is written next to the socket: a running server is joined at once, while
 * a short-lived owner (an admin command) is waited for, so the long-lived server ends up owning
 * the database instead of depending on a command that is about to exit.
 */
export type EmbeddedRole = 'server' | 'command';
export type EmbeddedDatabase = {
  /** Connection string for `pg` pointing at the socket directory. */
  url: string;
  /** True when this process opened PGlite itself. */
  owner: boolean;
  close(): Promise<void>;
};

const SOCKET_PORT = 5432;
const MAX_CONNECTIONS = 16;

export async function openEmbeddedDatabase(dataDir: string, role: EmbeddedRole = 'server'): Promise<EmbeddedDatabase> {
  const pgdata = path.join(dataDir, 'pgdata');
  const socketDir = path.join(dataDir, 'run');
  const socketPath = path.join(socketDir, `.s.PGSQL.${SOCKET_PORT}`);
  await fs.mkdir(pgdata, { recursive: true, mode: 0o700 });
  await fs.mkdir(socketDir, { recursive: true, mode: 0o700 });
  const url = `postgresql://postgres@localhost/postgres?host=${encodeURIComponent(socketDir)}&port=${SOCKET_PORT}`;

  const ownerFile = path.join(socketDir, 'owner');
  for (let attempt = 0; attempt < 300; attempt += 1) {
    const release = await tryLock(pgdata);
    if (release) {
      await fs.writeFile(ownerFile, role);
      return serve(pgdata, socketPath, url, release);
    }
    const ownerRole = await fs.readFile(ownerFile, 'utf8').catch(() => '');
    if (ownerRole === 'server' && (await socketAnswers(socketPath))) return { url, owner: false, close: async () => {} };
    // The owner is a command about to finish, or a server still starting: wait for it.
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`The embedded database in ${dataDir} stayed locked by another process for a minute.`);
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
        await fs.rm(path.join(path.dirname(socketPath), 'owner'), { force: true });
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
