import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** The repository root, and the Node 24 every process of the benchmark runs on (the pinned one). */
export const ROOT = path.resolve(import.meta.dirname, '..');
export const NODE = path.join(ROOT, 'node_modules/.bin/node');

export type Child = {
  name: string;
  process: ChildProcess;
  pid: number;
  /** The last lines it printed (stdout and stderr together), to show where it went wrong. */
  tail(): string[];
  /** Lines at a pino level in [from, below); a line that is not JSON (a crash, a stack) counts as an error. */
  linesLogged(from: number, below?: number): string[];
  exited: Promise<number | null>;
};

const TAIL_LINES = 40;

/** Spawns `node <script>` in the repository, its output kept in a log file and in memory. */
export function spawnNode(name: string, script: string, env: NodeJS.ProcessEnv, logFile: string): Child {
  // BENCH_NODE_ARGS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) profiles what is measured.
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(NODE, [...nodeArgs, script], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = fs.createWriteStream(logFile);
  const tail: string[] = [];
  const notable: Array<{ level: number; line: string }> = [];
  const collect = (chunk: Buffer) => {
    log.write(chunk);
    for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      const level = levelOf(line);
      if (level >= WARN) notable.push({ level, line });
    }
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => log.end());
  if (child.pid === undefined) throw new Error(`${name} could not be started`);
  return {
    name,
    process: child,
    pid: child.pid,
    tail: () => [...tail],
    linesLogged: (from, below = Number.POSITIVE_INFINITY) =>
      notable.filter(({ level }) => level >= from && level < below).map(({ line }) => line),
    exited,
  };
}

/** pino's levels. */
export const WARN = 40;
export const ERROR = 50;

function levelOf(line: string): number {
  try {
    const level = (JSON.parse(line) as { level?: unknown }).level;
    return typeof level === 'number' ? level : ERROR;
  } catch {
    return ERROR;
  }
}

/** SIGTERM (a clean shutdown), then SIGKILL to it and anything it started if it lingers. */
export async function stopChild(child: Child, graceMs = 15_000): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  const family = [child.pid, ...(await descendantsOf(child.pid))];
  child.process.kill('SIGTERM');
  const timedOut = await Promise.race([child.exited.then(() => false), sleep(graceMs).then(() => true)]);
  if (!timedOut) return;
  for (const pid of family) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await child.exited;
}

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Polls `url` until it answers 200; fails early if the child exits meanwhile. */
export async function waitUntilAnswering(child: Child, url: string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void child.exited.then((code) => {
    exitCode = code;
  });
  while (Date.now() < deadline) {
    if (exitCode !== undefined)
      throw new Error(`${child.name} exited with ${exitCode} before ${url} answered:\n${child.tail().join('\n')}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.body?.cancel();
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs / 1000} s:\n${child.tail().join('\n')}`);
}

export type Memory = { pid: number; rssMB: number; peakRssMB: number };

/** VmRSS and VmHWM (the peak) of a process and of every process it started (cluster workers). */
export async function memoryOf(pid: number): Promise<Memory[]> {
  const pids = [pid, ...(await descendantsOf(pid))];
  const readings = await Promise.all(pids.map(readMemory));
  return readings.filter((reading): reading is Memory => reading !== undefined);
}

async function readMemory(pid: number): Promise<Memory | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  if (!status) return undefined;
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { pid, rssMB: kib('VmRSS') / 1024, peakRssMB: kib('VmHWM') / 1024 };
}

async function descendantsOf(pid: number): Promise<number[]> {
  const parents = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // The command name may hold spaces and parentheses: the parent id follows the last ')'.
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (parent) parents.set(Number(entry), parent);
  }
  const found: number[] = [];
  const visit = (parent: number) => {
    for (const [child, of] of parents) {
      if (of === parent) {
        found.push(child);
        visit(child);
      }
    }
  };
  visit(pid);
  return found;
}
