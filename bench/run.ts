/**
 * `npm run bench`: Gatehouse against its yardsticks on this machine (see bench/README.md).
 * Options: --duration <s> (15), --workers <n> (passed on as WORKERS), --embedded (PGlite even if
 * PostgreSQL answers), --smoke (a tiny run for CI that fails on any error).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { argon2Reference } from './argon2.ts';
import { type Child, ERROR, freePort, WARN, memoryOf, ROOT, spawnNode, stopChild, waitUntilAnswering } from './children.ts';
import { clientCredentialsLoad, type TokenLoad } from './client-credentials.ts';
import { databaseVersion, embeddedStorage, type Gatehouse, scratchPostgres, seed, startGatehouse, type Storage } from './gatehouse.ts';
import { describeMachine, markdownTable, type Results, writeResults } from './report.ts';
import { signInLoad } from './sign-in.ts';

const POSTGRES_SERVER = process.env.BENCH_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const RESULTS = path.join(ROOT, 'bench/results');

type Settings = {
  durationSeconds: number;
  warmupSeconds: number;
  connections: number;
  browsers: number;
  argon2Seconds: number;
  idleWaitMs: number;
  smoke: boolean;
  embedded: boolean;
  workers: number | undefined;
};

function settingsFrom(argv: string[]): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      workers: { type: 'string' },
      embedded: { type: 'boolean', default: false },
      smoke: { type: 'boolean', default: false },
    },
  });
  const positive = (name: string, text: string | undefined) => {
    const value = Number(text);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number, not "${text}"`);
    return value;
  };
  const workers = values.workers === undefined ? undefined : positive('workers', values.workers);
  const common = { embedded: values.embedded, workers, smoke: values.smoke };
  if (values.smoke) {
    return { ...common, durationSeconds: 2, warmupSeconds: 0.5, connections: 2, browsers: 2, argon2Seconds: 1, idleWaitMs: 1_000 };
  }
  const durationSeconds = values.duration === undefined ? 15 : positive('duration', values.duration);
  return { ...common, durationSeconds, warmupSeconds: 3, connections: 16, browsers: 8, argon2Seconds: durationSeconds, idleWaitMs: 3_000 };
}

/** Undo steps, last first; runs once, from the finally or from Ctrl-C, whichever comes first. */
class Cleanup {
  private readonly steps: Array<() => Promise<unknown>> = [];
  private running: Promise<void> | undefined;
  add(step: () => Promise<unknown>): void {
    this.steps.push(step);
  }
  run(): Promise<void> {
    this.running ??= (async () => {
      for (const step of this.steps.reverse()) await step().catch((error: Error) => console.error(`cleanup: ${error.message}`));
    })();
    return this.running;
  }
}

const progress = (message: string) => process.stderr.write(`bench: ${message}\n`);

/** A 1-minute load average above this when the run starts means something else is using the CPU. */
const BUSY_LOAD = 0.5;

async function main(settings: Settings, cleanup: Cleanup): Promise<number> {
  const loadBefore = os.loadavg()[0] ?? 0;
  await mkdir(RESULTS, { recursive: true });
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-bench-'));
  cleanup.add(() => rm(tmp, { recursive: true, force: true }));
  const storage = await chooseStorage(settings);
  cleanup.add(() => storage.drop());

  progress(`starting Gatehouse (${storage.kind} database)`);
  const gatehouse = await startGatehouse({
    storage,
    port: await freePort(),
    dataDir: tmp,
    workers: settings.workers,
    logFile: path.join(RESULTS, 'gatehouse.log'),
  });
  cleanup.add(() => stopChild(gatehouse.child));
  progress(`seeding through the admin CLI (${settings.browsers} accounts)`);
  // Never served: the code is read from the Location header of the redirect to it.
  const data = await seed(gatehouse, `http://127.0.0.1:${await freePort()}/callback`, settings.browsers);
  const bare = await startBareProvider(data.machine, cleanup);
  await sleep(settings.idleWaitMs);
  const idle = { gatehouse: await memoryOf(gatehouse.child.pid), bare: await memoryOf(bare.child.pid) };

  const load = { connections: settings.connections, durationSeconds: settings.durationSeconds, warmupSeconds: settings.warmupSeconds };
  progress(`client_credentials against Gatehouse (${settings.durationSeconds} s, ${settings.connections} connections)`);
  const tokenGatehouse = await clientCredentialsLoad(gatehouse.issuer, data.machine, load);
  progress('client_credentials against the bare oidc-provider');
  const tokenBare = await clientCredentialsLoad(bare.origin, data.machine, load);
  const barePeak = await memoryOf(bare.child.pid);
  await stopChild(bare.child);

  progress(`password sign-ins (${settings.durationSeconds} s, ${settings.browsers} browsers)`);
  const signIns = await signInLoad(gatehouse.issuer, data, { browsers: settings.browsers, durationSeconds: settings.durationSeconds });
  progress(`argon2 verifications (${settings.argon2Seconds} s, ${settings.browsers} at once)`);
  const argon2 = await argon2Reference({
    passwordHash: data.passwordHash,
    password: data.password,
    concurrency: settings.browsers,
    durationSeconds: settings.argon2Seconds,
  });
  const gatehousePeak = await memoryOf(gatehouse.child.pid);

  const results: Results = {
    date: new Date().toISOString(),
    machine: await describeMachine({
      databaseVersion: await databaseVersion(gatehouse.sqlUrl),
      passwordHash: data.passwordHashSetting,
      workers: settings.workers ?? Number(process.env.WORKERS ?? 1),
      loadBefore,
    }),
    settings: {
      durationSeconds: settings.durationSeconds,
      connections: settings.connections,
      browsers: settings.browsers,
      argon2Seconds: settings.argon2Seconds,
      smoke: settings.smoke,
    },
    clientCredentials: {
      gatehouse: tokenGatehouse,
      bare: tokenBare,
      ratio: tokenGatehouse.requestsPerSecond / tokenBare.requestsPerSecond,
    },
    signIn: { gatehouse: signIns, argon2, ratio: signIns.signInsPerSecond / argon2.verificationsPerSecond },
    memory: { gatehouse: { idle: idle.gatehouse, peak: gatehousePeak }, bare: { idle: idle.bare, peak: barePeak } },
    problems: [
      ...tokenProblems('Gatehouse /token', tokenGatehouse),
      ...tokenProblems('bare oidc-provider /token', tokenBare),
      ...signInProblems(signIns),
      ...logged(gatehouse, 'error', ERROR),
    ],
    notes: [
      ...(loadBefore > BUSY_LOAD
        ? [`the machine was busy before the run (load average ${loadBefore.toFixed(2)}): the numbers are skewed`]
        : []),
      ...logged(gatehouse, 'warning', WARN, ERROR),
    ],
  };
  process.stdout.write(`\n${markdownTable(results)}\n`);
  progress(`results written to ${path.relative(ROOT, await writeResults(results))}`);
  if (results.notes.length > 0) console.error(`\nNotes:\n${results.notes.map((note) => `- ${note}`).join('\n')}`);
  if (results.problems.length === 0) return 0;
  console.error(`\nThe run is not trustworthy:\n${results.problems.map((problem) => `- ${problem}`).join('\n')}`);
  return 1;
}

async function chooseStorage(settings: Settings): Promise<Storage> {
  if (settings.embedded) return embeddedStorage;
  const postgres = await scratchPostgres(POSTGRES_SERVER);
  if (!postgres) progress(`no PostgreSQL answers at ${new URL(POSTGRES_SERVER).host}: using the embedded database`);
  return postgres ?? embeddedStorage;
}

async function startBareProvider(
  client: { clientId: string; clientSecret: string },
  cleanup: Cleanup,
): Promise<{ child: Child; origin: string }> {
  const port = await freePort();
  const env = { ...process.env, PORT: String(port), BENCH_CLIENT_ID: client.clientId, BENCH_CLIENT_SECRET: client.clientSecret };
  const child = spawnNode('bare oidc-provider', 'bench/bare-provider.ts', env, path.join(RESULTS, 'bare-provider.log'));
  cleanup.add(() => stopChild(child));
  const origin = `http://localhost:${port}`;
  await waitUntilAnswering(child, `${origin}/.well-known/openid-configuration`);
  return { child, origin };
}

function tokenProblems(what: string, load: TokenLoad): string[] {
  const problems: string[] = [];
  if (load.non2xx > 0) problems.push(`${what}: ${load.non2xx} non-2xx responses (by status: ${JSON.stringify(load.statusCodes)})`);
  if (load.errors > 0) problems.push(`${what}: ${load.errors} connection errors, ${load.timeouts} of them timeouts`);
  if (load.requests === 0) problems.push(`${what}: no response at all`);
  return problems;
}

function signInProblems(load: Awaited<ReturnType<typeof signInLoad>>): string[] {
  const problems: string[] = [];
  if (load.failed > 0) problems.push(`${load.failed} sign-ins failed; the first: ${load.failures.join(' | ')}`);
  if (load.completed === 0) problems.push('no sign-in completed');
  return problems;
}

/** What Gatehouse logged at these levels, with the first lines (the whole log is in bench/results/). */
function logged(gatehouse: Gatehouse, name: string, from: number, below?: number): string[] {
  const lines = gatehouse.child.linesLogged(from, below);
  if (lines.length === 0) return [];
  const first = lines.slice(0, 5).map((line) => `\n    ${line.slice(0, 400)}`);
  return [`Gatehouse logged ${lines.length} ${name} lines (bench/results/gatehouse.log); the first:${first.join('')}`];
}

const cleanup = new Cleanup();
const abandon = (reason: string, exitCode: number) => {
  console.error(`bench: ${reason}: cleaning up`);
  void cleanup.run().finally(() => process.exit(exitCode));
};
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => abandon(signal, 130));
// Whatever goes wrong, the database is dropped and the children stopped: a reader that went away
// (`| head`) must not leave them behind, so a broken pipe is ignored rather than fatal.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
process.once('uncaughtException', (error) => abandon(`unexpected ${error.message}`, 1));
process.once('unhandledRejection', (error) => abandon(`unexpected ${(error as Error).message}`, 1));
let exitCode = 1;
try {
  exitCode = await main(settingsFrom(process.argv.slice(2)), cleanup);
} catch (error) {
  console.error(`bench failed: ${(error as Error).message}\n(Gatehouse's log: bench/results/gatehouse.log)`);
} finally {
  await cleanup.run();
}
process.exit(exitCode);
