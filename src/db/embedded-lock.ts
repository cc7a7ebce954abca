import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';

/**
 * Who owns the embedded database: one file, `DATA_DIR/pgdata.owner`, naming the owning process.
 *
 * Staleness is decided by whether that process still exists on this host, never by how long ago
 * it last wrote something: a server paused (SIGSTOP, a debugger, a frozen VM) for any length of
 * time still owns the database, and a crashed one is replaced at once. The file is created
 * complete (written aside, then hard-linked into place, which fails if it exists), so nobody ever
 * reads half of it.
 */
export type EmbeddedRole = 'server' | 'command';
export type OwnerRecord = { pid: number; host: string; started: string | null; role: EmbeddedRole };

/** What can be learnt about a process id on this host. */
export type ProcessProbe = {
  host: string;
  ownPid: number;
  running(pid: number): boolean;
  /** The kernel's start time of the process, to tell a reused pid apart; null when unknown. */
  startedAt(pid: number): string | null;
  /** Whether this very process holds the lock (one process may open the same DATA_DIR twice). */
  heldHere(): boolean;
};

export type OwnerState = 'alive' | 'gone' | 'elsewhere';

/**
 * Whether the owner named in the file still exists. A pid reused by another process, or this
 * process's own pid from a previous life (a restarted container is often pid 1 again), is gone.
 * On another host nothing can be known: that owner is never overruled.
 */
export function ownerState(owner: OwnerRecord, probe: ProcessProbe): OwnerState {
  if (owner.host !== probe.host) return 'elsewhere';
  if (owner.pid === probe.ownPid) return probe.heldHere() ? 'alive' : 'gone';
  if (!probe.running(owner.pid)) return 'gone';
  const started = probe.startedAt(owner.pid);
  if (owner.started !== null && started !== null && owner.started !== started) return 'gone';
  return 'alive';
}

export function parseOwner(text: string): OwnerRecord | null {
  try {
    const value = JSON.parse(text) as Partial<OwnerRecord>;
    const valid =
      Number.isInteger(value.pid) &&
      (value.pid as number) > 0 &&
      typeof value.host === 'string' &&
      (value.started === null || typeof value.started === 'string') &&
      (value.role === 'server' || value.role === 'command');
    return valid ? (value as OwnerRecord) : null;
  } catch {
    return null;
  }
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), read after the `comm` field. */
function linuxStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, it is just not ours to signal.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const heldLocks = new Set<string>();

export function hostProbe(lockPath: string): ProcessProbe {
  return {
    host: os.hostname(),
    ownPid: process.pid,
    running: isRunning,
    startedAt: linuxStartTime,
    heldHere: () => heldLocks.has(lockPath),
  };
}

export type OwnerLock = {
  readonly path: string;
  readonly record: OwnerRecord;
  /** Resolves false (never throws) when the file no longer names this process. */
  stillOurs(): Promise<boolean>;
  release(): Promise<void>;
};

export type Attempt = { lock: OwnerLock } | { owner: OwnerRecord; state: OwnerState } | { retry: true };

/**
 * One attempt: take the lock if it is free, clear it if its owner is gone (then the caller
 * retries at once), or say who holds it.
 */
export async function attemptLock(lockPath: string, role: EmbeddedRole, probe = hostProbe(lockPath)): Promise<Attempt> {
  const record: OwnerRecord = { pid: process.pid, host: probe.host, started: linuxStartTime(process.pid), role };
  const text = JSON.stringify(record);
  if (await createExclusively(lockPath, text)) {
    heldLocks.add(lockPath);
    return { lock: ownerLock(lockPath, record, text) };
  }
  const found = await fs.readFile(lockPath, 'utf8').catch(() => null);
  if (found === null) return { retry: true }; // released in between
  const owner = parseOwner(found);
  const state = owner ? ownerState(owner, probe) : 'gone';
  if (state !== 'gone') return { owner: owner!, state };
  await removeIfUnchanged(lockPath, found);
  return { retry: true };
}

async function createExclusively(lockPath: string, text: string): Promise<boolean> {
  const aside = `${lockPath}.${process.pid}.${crypto.randomBytes(6).toString('hex')}`;
  await fs.writeFile(aside, text, { mode: 0o600 });
  try {
    await fs.link(aside, lockPath);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await fs.rm(aside, { force: true });
  }
}

/**
 * Removes a dead owner's file. Two processes may find the same dead owner: the `.breaking`
 * directory (mkdir is atomic) lets one of them at a time re-read the file and remove it only if
 * it still holds the same dead owner, so nobody removes a file a live process has just created.
 */
async function removeIfUnchanged(lockPath: string, deadText: string): Promise<void> {
  const breaking = `${lockPath}.breaking`;
  try {
    await fs.mkdir(breaking);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    // Someone else is clearing it. Its work takes microseconds; a leftover from a crash mid-way
    // is cleared after a few seconds.
    const since = await fs.stat(breaking).then(
      (stat) => Date.now() - stat.mtimeMs,
      () => 0,
    );
    if (since > 5_000) await fs.rm(breaking, { recursive: true, force: true });
    await new Promise((resolve) => setTimeout(resolve, 50));
    return;
  }
  try {
    const current = await fs.readFile(lockPath, 'utf8').catch(() => null);
    if (current === deadText) await fs.rm(lockPath, { force: true });
  } finally {
    await fs.rm(breaking, { recursive: true, force: true });
  }
}

function ownerLock(lockPath: string, record: OwnerRecord, text: string): OwnerLock {
  const stillOurs = async () => (await fs.readFile(lockPath, 'utf8').catch(() => null)) === text;
  return {
    path: lockPath,
    record,
    stillOurs,
    async release() {
      heldLocks.delete(lockPath);
      if (await stillOurs()) await fs.rm(lockPath, { force: true });
    },
  };
}
