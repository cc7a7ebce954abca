import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { promisify } from 'node:util';
import pg from 'pg';
import { hashPassword } from '../src/auth/passwords.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { freePort } from './support/gatehouse.ts';
import { NODE, ROOT, spawnGatehouse } from './support/process.ts';
import { Agent, authorizationRequest, exchange, PASSWORD, REDIRECT_URI, relyingParty, start, submitLogin } from './support/scenario.ts';

/**
 * WORKERS=2 as an operator runs it: `node src/main.ts` becomes a supervisor whose two worker
 * processes share the port. What is checked is only what can be seen from outside: the process
 * tree, the request log (each line names the worker's pid) and the answers.
 */
const run = promisify(execFile);
const postgres = Boolean(process.env.DATABASE_URL);
if (!postgres) console.warn('workers.test.ts: WORKERS above 1 needs PostgreSQL; the cluster tests are skipped without DATABASE_URL');

let storage: TestStorage;
const secretsKey = crypto.randomBytes(32).toString('base64');
const email = 'jo.bloggs@hill.example';
let schoolSystem: { clientId: string; clientSecret: string };

beforeAll(async () => {
  storage = await createTestStorage();
  if (postgres) schoolSystem = await seed();
});

afterAll(async () => {
  await storage?.drop();
});

function environment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, DATA_DIR: storage.dataDir, DATABASE_URL: storage.databaseUrl ?? '', SECRETS_KEY: secretsKey, ...extra };
}

async function admin(...args: string[]): Promise<Record<string, string>> {
  const { stdout } = await run(NODE, ['src/admin/cli.ts', ...args, '--json'], { cwd: ROOT, env: environment() });
  return JSON.parse(stdout) as Record<string, string>;
}

/** A school, its school system and a basic member with a password, before any server runs. */
async function seed() {
  const school = await admin('school', 'add', '--name', 'Hill Primary School', '--postcode', 'HP1 1AA');
  const [client] = await Promise.all([
    admin('client', 'add', '--name', 'Hill MIS', '--school', school.id!, '--redirect-uri', REDIRECT_URI),
    admin('user', 'add', '--email', email, '--name', 'Jo Bloggs', '--school', `${school.id}:basic`),
  ]);
  const database = new pg.Client({ connectionString: storage.databaseUrl });
  await database.connect();
  try {
    await database.query('UPDATE accounts SET password_hash = $1 WHERE email = $2', [await hashPassword(PASSWORD), email]);
  } finally {
    await database.end();
  }
  return { clientId: client!.client_id!, clientSecret: client!.client_secret! };
}

/** The primary's child processes, as the kernel lists them. */
function childrenOf(pid: number): number[] {
  const text = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text ? text.split(' ').map(Number) : [];
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

type LogLine = { msg: string; level: number; pid?: number; worker?: number; requestId?: string; path?: string };

function logLines(output: string): LogLine[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

async function eventually<T>(probe: () => T | undefined | false, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`not reached in time: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** One GET on a connection of its own (no keep-alive), so the primary hands each to the next worker. */
function getOnNewConnection(url: string): Promise<{ status: number; requestId: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode!, requestId: String(response.headers['x-request-id']) }));
    });
    request.on('error', reject);
  });
}

type Server = Awaited<ReturnType<typeof spawnGatehouse>>;

/** Sends `count` requests one after another and says which worker processes answered them. */
async function pidsServing(server: Server, count: number): Promise<number[]> {
  const answers = [];
  for (let sent = 0; sent < count; sent += 1) answers.push(await getOnNewConnection(`${server.url}/healthz`));
  expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 200));
  const ids = new Set(answers.map((answer) => answer.requestId));
  const lines = await eventually(() => {
    const found = logLines(server.output()).filter((line) => line.msg === 'request' && ids.has(line.requestId ?? ''));
    return found.length === ids.size && found;
  }, 'a request log line for every answer');
  return [...new Set(lines.map((line) => line.pid!))].sort();
}

/** The workers that have logged that they listen, by pid. */
function listening(server: Server): Map<number, number> {
  const lines = logLines(server.output()).filter((line) => line.msg === 'gatehouse listening');
  return new Map(lines.map((line) => [line.pid!, line.worker!]));
}

async function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(port, 'localhost');
    probe.once('connect', () => {
      probe.destroy();
      resolve(false);
    });
    probe.once('error', () => resolve(true));
  });
}

/** A whole sign-in, every browser request on a new connection: each step may meet the other worker. */
async function signIn(issuer: string) {
  const rp = await relyingParty(issuer, schoolSystem);
  const agent = new Agent(REDIRECT_URI);
  agent.headers.connection = 'close';
  const authorization = await authorizationRequest(rp);
  const login = await start(agent, authorization);
  const callback = await agent.follow(await submitLogin(agent, login, email, PASSWORD));
  return (await exchange(rp, callback, authorization)).claims();
}

(postgres ? test : test.skip)(
  'two workers share the port, sign-ins cross them, a killed worker is replaced, SIGTERM stops all with exit 0',
  async () => {
    const port = await freePort();
    const server = await spawnGatehouse(storage, port, { WORKERS: '2', LOG_LEVEL: 'info', SECRETS_KEY: secretsKey });
    try {
      const workers = await eventually(() => {
        const pids = childrenOf(server.pid);
        return pids.length === 2 && pids.every((pid) => listening(server).has(pid)) && pids.sort();
      }, 'two workers listening');
      expect([...listening(server).values()].sort()).toEqual([1, 2]);
      expect(logLines(server.output()).filter((line) => line.msg === 'gatehouse primary')).toEqual([
        expect.objectContaining({ pid: server.pid, workers: 2 }),
      ]);
      expect(await pidsServing(server, 12)).toEqual(workers);

      const discovery = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as { issuer: string };
      expect(discovery.issuer).toBe(server.url);
      const claims = await signIn(server.url);
      expect(claims).toMatchObject({ email, iss: server.url, aud: schoolSystem.clientId });
      const signInPids = new Set(
        logLines(server.output())
          .filter((line) => line.msg === 'request' && /^\/(auth|interaction)\b/.test(line.path ?? ''))
          .map((line) => line.pid),
      );
      expect([...signInPids].sort()).toEqual(workers);

      // A worker dies: the other goes on serving alone until the primary has started a third.
      const [killed, survivor] = workers as [number, number];
      process.kill(killed, 'SIGKILL');
      await eventually(() => !childrenOf(server.pid).includes(killed), 'the primary to reap the killed worker');
      expect(await pidsServing(server, 4)).toEqual([survivor]);
      const replacement = await eventually(() => {
        const pids = childrenOf(server.pid).filter((pid) => pid !== survivor);
        return pids.length === 1 && listening(server).has(pids[0]!) && pids[0]!;
      }, 'a replacement worker listening');
      expect(listening(server).get(replacement)).toBe(3);
      expect(await pidsServing(server, 12)).toEqual([survivor, replacement].sort());
      expect(logLines(server.output()).filter((line) => line.level >= 50)).toEqual([
        expect.objectContaining({ msg: 'worker exited unexpectedly; starting another', workerPid: killed, signal: 'SIGKILL' }),
      ]);

      const exitCode = await server.stop();
      expect(exitCode).toBe(0);
      expect([survivor, replacement].filter(isAlive)).toEqual([]);
      expect(await refusesConnections(port)).toBe(true);
      expect(
        logLines(server.output())
          .filter((line) => line.msg === 'stopped')
          .map((line) => line.pid),
      ).toEqual(expect.arrayContaining([survivor, replacement]));
    } finally {
      await server.stop();
    }
  },
  60_000,
);

(postgres ? test : test.skip)('a worker that cannot start says why in one sentence, and the primary exits 1', async () => {
  const wrongKey = crypto.randomBytes(32).toString('base64');
  const env = environment({ PORT: String(await freePort()), WORKERS: '2', LOG_LEVEL: 'warn', SECRETS_KEY: wrongKey });
  const failure = await run(NODE, ['src/main.ts'], { cwd: ROOT, env }).catch((error) => error);
  expect(failure.code).toBe(1);
  expect(failure.stderr.trim()).toMatch(/^Configuration error: the secrets key does not match [^\n]+\.$/);
  expect(failure.stdout).toBe('');
});

test('WORKERS above 1 without DATABASE_URL is refused at start with one sentence', async () => {
  const env = { ...process.env, DATA_DIR: storage.dataDir, DATABASE_URL: '', WORKERS: '2', PORT: String(await freePort()) };
  const failure = await run(NODE, ['src/main.ts'], { cwd: ROOT, env }).catch((error) => error);
  expect(failure.code).toBe(1);
  expect(failure.stderr.trim()).toMatch(/^Configuration error: WORKERS above 1 needs DATABASE_URL: [^\n]+\.$/);
});
