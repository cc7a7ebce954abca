import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Argon2Reference } from './argon2.ts';
import { type Memory, NODE, ROOT } from './children.ts';
import type { TokenLoad } from './client-credentials.ts';
import type { SignInLoad } from './sign-in.ts';

export type Machine = {
  cpu: string;
  cores: number;
  node: string;
  database: string;
  passwordHash: string;
  workers: number;
  uvThreadpoolSize: string;
  /** 1-minute load average before the benchmark started: other work on the machine skews every number. */
  loadBefore: number;
};

export type MemoryReport = { idle: Memory[]; peak: Memory[] };

export type Results = {
  date: string;
  machine: Machine;
  settings: { durationSeconds: number; connections: number; browsers: number; argon2Seconds: number; smoke: boolean };
  clientCredentials: { gatehouse: TokenLoad; bare: TokenLoad; ratio: number };
  signIn: { gatehouse: SignInLoad; argon2: Argon2Reference; ratio: number };
  memory: { gatehouse: MemoryReport; bare: MemoryReport };
  /** Everything that makes these numbers untrustworthy; empty on a good run. */
  problems: string[];
  /** Worth a look, but no reason to distrust the numbers (warnings Gatehouse logged). */
  notes: string[];
};

/** The targets (issue 11, "Capacity"). */
export const TARGETS = { tokenRatio: 0.6, signInRatio: 0.8, idleRssMB: 150 };

export async function describeMachine(options: {
  databaseVersion: string;
  passwordHash: string;
  workers: number;
  loadBefore: number;
}): Promise<Machine> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  return {
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    node: execFileSync(NODE, ['--version'], { encoding: 'utf8' }).trim(),
    database: options.databaseVersion.split(' on ')[0] ?? options.databaseVersion,
    passwordHash: options.passwordHash,
    workers: options.workers,
    uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE ?? '4 (default)',
    loadBefore: options.loadBefore,
  };
}

const fixed = (value: number, digits = 0) => (Number.isFinite(value) ? value.toFixed(digits) : '—');
const latency = ({ p50, p90, p99 }: { p50: number; p90: number; p99: number }) => `${fixed(p50)} / ${fixed(p90)} / ${fixed(p99)}`;
const verdict = (ok: boolean) => (ok ? 'met' : '**not met**');
const maxOf = (memory: Memory[], key: 'rssMB' | 'peakRssMB') => Math.max(...memory.map((entry) => entry[key]));
const perProcess = (memory: Memory[], key: 'rssMB' | 'peakRssMB') =>
  memory.length > 1 ? `${fixed(maxOf(memory, key))} (max of ${memory.length})` : fixed(maxOf(memory, key));

export function markdownTable(results: Results): string {
  const { clientCredentials: cc, signIn, memory, machine, settings } = results;
  const idleRss = maxOf(memory.gatehouse.idle, 'rssMB');
  const rows = [
    ['Measure', 'Gatehouse', 'Yardstick', 'Ratio', `Target`],
    ['---', '---:', '---:', '---:', '---'],
    [
      `client_credentials token requests/s (${settings.connections} connections)`,
      fixed(cc.gatehouse.requestsPerSecond),
      `${fixed(cc.bare.requestsPerSecond)} (bare oidc-provider)`,
      fixed(cc.ratio, 2),
      `≥ ${TARGETS.tokenRatio}: ${verdict(cc.ratio >= TARGETS.tokenRatio)}`,
    ],
    ['token latency p50 / p90 / p99 (ms)', latency(cc.gatehouse.latencyMs), latency(cc.bare.latencyMs), '', ''],
    ['token non-2xx / errors', `${cc.gatehouse.non2xx} / ${cc.gatehouse.errors}`, `${cc.bare.non2xx} / ${cc.bare.errors}`, '', ''],
    [
      `password sign-ins/s (${settings.browsers} browsers) vs argon2 verifications/s (${signIn.argon2.concurrency} at once)`,
      fixed(signIn.gatehouse.signInsPerSecond, 1),
      fixed(signIn.argon2.verificationsPerSecond, 1),
      fixed(signIn.ratio, 2),
      `≥ ${TARGETS.signInRatio}: ${verdict(signIn.ratio >= TARGETS.signInRatio)}`,
    ],
    ['sign-in latency p50 / p90 / p99 (ms)', latency(signIn.gatehouse.latencyMs), '', '', ''],
    ['sign-ins completed / failed', `${signIn.gatehouse.completed} / ${signIn.gatehouse.failed}`, '', '', ''],
    [
      'idle RSS (MB, per process)',
      perProcess(memory.gatehouse.idle, 'rssMB'),
      `${perProcess(memory.bare.idle, 'rssMB')} (bare)`,
      '',
      `≤ ${TARGETS.idleRssMB}: ${verdict(idleRss <= TARGETS.idleRssMB)}`,
    ],
    [
      'peak RSS after the runs (MB, VmHWM)',
      perProcess(memory.gatehouse.peak, 'peakRssMB'),
      `${perProcess(memory.bare.peak, 'peakRssMB')} (bare)`,
      '',
      '',
    ],
  ];
  const table = rows.map((row) => `| ${row.join(' | ')} |`).join('\n');
  const about = [
    `${machine.cpu}, ${machine.cores} cores; Node ${machine.node}; ${machine.database}; PASSWORD_HASH ${machine.passwordHash};`,
    `WORKERS ${machine.workers}; UV_THREADPOOL_SIZE ${machine.uvThreadpoolSize}; load before ${fixed(machine.loadBefore, 2)}; ${settings.durationSeconds} s per run${settings.smoke ? ' (smoke)' : ''}; ${results.date}`,
  ].join(' ');
  return `${table}\n\n${about}\n`;
}

export async function writeResults(results: Results): Promise<string> {
  const directory = path.join(ROOT, 'bench/results');
  await mkdir(directory, { recursive: true });
  const file = path.join(directory, 'latest.json');
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  return file;
}
