import fs from 'node:fs/promises';
import path from 'node:path';

/** One PostgreSQL page: the smallest amount the embedded database ever needs to grow by. */
const PROBE = Buffer.alloc(8192, 0x47);

/** The disk under the embedded database refused a write: full, read-only or failing. */
export class DiskNotWritableError extends Error {
  constructor(cause: unknown) {
    super(`the embedded database's disk refused a write: ${(cause as Error).message}`, { cause });
    this.name = 'DiskNotWritableError';
  }
}

/**
 * Writes, syncs and removes a page-sized file in DATA_DIR, on the same filesystem as the embedded
 * database. `SELECT 1` succeeds on a full disk; this fails as the database's next write would.
 */
export async function probeWritable(directory: string): Promise<void> {
  const file = path.join(directory, `.write-probe-${process.pid}`);
  try {
    const handle = await fs.open(file, 'w', 0o600);
    try {
      await handle.writeFile(PROBE);
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw new DiskNotWritableError(error);
  } finally {
    await fs.rm(file, { force: true });
  }
}
