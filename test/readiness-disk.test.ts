import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './support/gatehouse.ts';
import { spawnGatehouse } from './support/process.ts';

/**
 * /readyz on a full disk, for real: the server runs (embedded, whatever DATABASE_URL says) with
 * DATA_DIR on a 256 MiB tmpfs mounted in a user and mount namespace of its own (`unshare -rm`,
 * no root needed), which the test fills through /proc/<pid>/root until the kernel says ENOSPC.
 */
const TMPFS = ['unshare', '-rm', 'sh', '-c', 'mount -t tmpfs -o size=256m,mode=0700 tmpfs "$DATA_DIR" && exec "$@"', 'sh'];

function userNamespacesWork(): boolean {
  try {
    execFileSync('unshare', ['-rm', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const available = userNamespacesWork();
if (!available) console.warn('readiness-disk.test.ts skipped: this machine does not allow unprivileged user namespaces (unshare -rm)');

/** Writes 1 MiB chunks until the filesystem refuses one with ENOSPC. */
async function fill(file: string): Promise<void> {
  const chunk = Buffer.alloc(1024 * 1024, 1);
  const handle = await fs.open(file, 'w');
  try {
    for (;;) await handle.write(chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    await handle.close();
  }
}

(available ? test : test.skip)(
  '/readyz answers 503 while the embedded database disk is full, 200 once there is room',
  async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-disk-'));
    const port = await freePort();
    const server = await spawnGatehouse({ databaseUrl: undefined, dataDir }, port, {}, TMPFS);
    const url = `http://localhost:${port}`;
    const readiness = async () => {
      const response = await fetch(`${url}/readyz`);
      return { status: response.status, body: await response.json() };
    };
    try {
      expect(await readiness()).toEqual({ status: 200, body: { status: 'ok', database: 'ok' } });
      // The tmpfs is visible only inside the server's mount namespace.
      const filler = path.join(`/proc/${server.pid}/root`, dataDir, 'filler');
      await fill(filler);
      expect(await readiness()).toEqual({ status: 503, body: { status: 'unavailable', database: 'not_writable' } });
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      expect(server.running()).toBe(true);

      await fs.rm(filler);
      expect(await readiness()).toEqual({ status: 200, body: { status: 'ok', database: 'ok' } });
    } finally {
      expect(await server.stop()).toBe(0);
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  },
  90_000,
);
