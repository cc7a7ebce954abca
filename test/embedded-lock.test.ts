import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { attemptLock, ownerState, type OwnerRecord, type ProcessProbe } from '../src/db/embedded-lock.ts';
import { EmbeddedDatabaseBusyError, openEmbeddedDatabase } from '../src/db/embedded.ts';
import { freePort } from './support/gatehouse.ts';
import { NODE, ROOT, spawnGatehouse } from './support/process.ts';

/**
 * Who owns an embedded (PGlite) DATA_DIR is decided by whether the owning process exists, never
 * by how recently it wrote something: a paused server keeps its database, a dead one loses it.
 * These tests always use the embedded database, whatever DATABASE_URL says.
 */

const probe = (overrides: Partial<ProcessProbe> = {}): ProcessProbe => ({
  host: 'school-server',
  ownPid: 100,
  running: (pid) => pid === 200,
  startedAt: (pid) => (pid === 200 ? '5000' : null),
  heldHere: () => false,
  ...overrides,
});
const record = (overrides: Partial<OwnerRecord> = {}): OwnerRecord => ({
  pid: 200,
  host: 'school-server',
  started: '5000',
  role: 'server',
  ...overrides,
});

describe('the owner decision', () => {
  test('a running owner keeps the database however long it has been quiet', () => {
    expect(ownerState(record(), probe())).toBe('alive');
    expect(ownerState(record({ started: null }), probe())).toBe('alive');
    expect(ownerState(record(), probe({ startedAt: () => null }))).toBe('alive');
  });

  test('a dead owner, or its pid now used by another process, has gone', () => {
    expect(ownerState(record({ pid: 201 }), probe())).toBe('gone');
    expect(ownerState(record({ started: '4999' }), probe())).toBe('gone');
  });

  test('this process owns it only if it holds it now; an owner on another host is never overruled', () => {
    expect(ownerState(record({ pid: 100 }), probe())).toBe('gone');
    expect(ownerState(record({ pid: 100 }), probe({ heldHere: () => true }))).toBe('alive');
    expect(ownerState(record({ host: 'other-host', pid: 201 }), probe())).toBe('elsewhere');
  });
});

describe('the owner file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-lock-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function deadPid(): Promise<number> {
    const child = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => child.once('exit', resolve));
    return child.pid!;
  }

  test('is taken over at once from a process that no longer exists, and held against everyone else', async () => {
    const lockPath = path.join(dir, 'pgdata.owner');
    await fs.writeFile(lockPath, JSON.stringify({ pid: await deadPid(), host: os.hostname(), started: null, role: 'server' }));
    expect(await attemptLock(lockPath, 'command')).toEqual({ retry: true });
    const taken = await attemptLock(lockPath, 'command');
    if (!('lock' in taken)) throw new Error(`not taken: ${JSON.stringify(taken)}`);
    expect(JSON.parse(await fs.readFile(lockPath, 'utf8'))).toEqual({
      pid: process.pid,
      host: os.hostname(),
      started: expect.any(String),
      role: 'command',
    });
    // Held by this (running) process: another attempt is told who owns it, nothing is removed.
    const other = await attemptLock(lockPath, 'server', {
      ...(await import('../src/db/embedded-lock.ts')).hostProbe(lockPath),
      ownPid: -1,
    });
    expect(other).toEqual({ owner: taken.lock.record, state: 'alive' });
    expect(await taken.lock.stillOurs()).toBe(true);
    await taken.lock.release();
    await expect(fs.access(lockPath)).rejects.toThrow();
    expect((await fs.readdir(dir)).sort()).toEqual([]);
  });

  test('an owner on another host is never removed: the opener waits, then says so in one sentence', async () => {
    const lockPath = path.join(dir, 'pgdata.owner');
    const elsewhere = JSON.stringify({ pid: 4242, host: 'another-host.invalid', started: '1', role: 'command' });
    await fs.writeFile(lockPath, elsewhere);
    const failure = await openEmbeddedDatabase(dir, 'command', { waitMs: 600 }).catch((error) => error);
    expect(failure).toBeInstanceOf(EmbeddedDatabaseBusyError);
    expect(failure.message).toBe(
      `The embedded database in ${dir} is held by an admin command (process 4242 on another-host.invalid), which has not finished or answered for 1 s; nothing was changed. Try again once it answers, or stop it.`,
    );
    expect(await fs.readFile(lockPath, 'utf8')).toBe(elsewhere);
  });
});

describe('a paused server (spawned process, embedded database)', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-paused-'));
  });
  afterAll(async () => {
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  const storage = () => ({ databaseUrl: undefined, dataDir, drop: async () => {} });
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const admin = (...args: string[]) =>
    promisify(execFile)(NODE, ['src/admin/cli.ts', ...args, '--json'], {
      cwd: ROOT,
      env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: '' },
    });

  test('keeps its database through an admin command run while it was paused, and the command waits for it', async () => {
    const port = await freePort();
    const server = await spawnGatehouse(storage(), port);
    try {
      process.kill(server.pid, 'SIGSTOP');
      await sleep(11_000); // longer than the 10 s after which the old mtime lock called it stale
      const command = admin('school', 'add', '--name', 'Paused School', '--postcode', 'PA1 5ED');
      await sleep(3_000);
      process.kill(server.pid, 'SIGCONT');
      const added = JSON.parse((await command).stdout);
      expect(added).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/) });

      await sleep(3_000); // the old lock's next update after resuming threw ECOMPROMISED here
      expect(await (await fetch(`${server.url}/readyz`)).json()).toEqual({ status: 'ok', database: 'ok' });
      expect(JSON.parse((await admin('school', 'list')).stdout).schools).toEqual([
        { id: added.id, name: 'Paused School', postcode: 'PA1 5ED' },
      ]);
      const owner = JSON.parse(await fs.readFile(path.join(dataDir, 'pgdata.owner'), 'utf8'));
      expect(owner).toMatchObject({ pid: server.pid, role: 'server' });
      expect(server.output()).not.toContain('ECOMPROMISED');

      // Paused for longer than an opener will wait: it gives up with a sentence, taking nothing.
      process.kill(server.pid, 'SIGSTOP');
      const failure = await openEmbeddedDatabase(dataDir, 'command', { waitMs: 1_500 }).catch((error) => error);
      process.kill(server.pid, 'SIGCONT');
      expect(failure).toBeInstanceOf(EmbeddedDatabaseBusyError);
      expect(failure.message).toContain(
        `is held by a Gatehouse server (process ${server.pid} on ${os.hostname()}), which has not finished or answered for 2 s; nothing was changed.`,
      );
      expect(JSON.parse(await fs.readFile(path.join(dataDir, 'pgdata.owner'), 'utf8'))).toMatchObject({ pid: server.pid });
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    } finally {
      // (the old lock crashed the server on resume: then there is nobody to resume)
      await promisify(execFile)('kill', ['-CONT', String(server.pid)]).catch(() => {});
      expect(await server.stop()).toBe(0);
    }
    await expect(fs.access(path.join(dataDir, 'pgdata.owner'))).rejects.toThrow();
  }, 90_000);

  test('a server whose owner file is replaced by hand stops cleanly with one clear line and exit code 1', async () => {
    const port = await freePort();
    const server = await spawnGatehouse(storage(), port);
    const lockPath = path.join(dataDir, 'pgdata.owner');
    await fs.writeFile(lockPath, JSON.stringify({ pid: 1, host: os.hostname(), started: null, role: 'command' }));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setInterval(() => {
        try {
          process.kill(server.pid, 0);
        } catch {
          clearInterval(timer);
          resolve(server.stop());
        }
      }, 200);
    });
    expect(code).toBe(1);
    expect(server.output()).toContain('no longer names this process');
    expect(server.output()).not.toMatch(/ECOMPROMISED|\n\s+at /);
    await fs.rm(lockPath, { force: true });
  }, 60_000);
});
