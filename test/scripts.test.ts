import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { DEMO_EMAIL, DEMO_PASSWORD, demoPorts, FIRST_TIME_EMAIL, seedDemo } from '../examples/demo-seed.ts';
import { Agent, decodeAttribute, formAction, formField } from './support/agent.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { freePort, startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { NODE, ROOT } from './support/process.ts';

/** The npm scripts the README promises run what they say (a script naming a missing jest project fails). */
test('npm run test:smoke runs the smoke test file, and only it', async () => {
  const { stdout } = await promisify(execFile)('npm', ['run', '-s', 'test:smoke', '--', '--listTests'], { cwd: ROOT, env: process.env });
  expect(
    stdout
      .trim()
      .split('\n')
      .map((file) => path.relative(ROOT, file)),
  ).toEqual(['test/smoke.test.ts']);
});

/**
 * `npm run demo` (examples/demo.ts): its ports never follow PORT into a collision, its data is
 * kept between runs (seeding only adds what is missing; --fresh starts again), Sam can try the
 * first-time journey, and the mail's link shows in the outbox and at the demo's log level.
 */
describe('npm run demo', () => {
  test('ports: the provider on PORT, the school systems on DEMO_PORT_A/B/C, never PORT+1', () => {
    expect(demoPorts({})).toEqual({ provider: 3000, schools: [4001, 4002, 4003] });
    expect(demoPorts({ PORT: '3001' })).toEqual({ provider: 3001, schools: [4001, 4002, 4003] });
    expect(demoPorts({ PORT: '8080', DEMO_PORT_A: '8081', DEMO_PORT_B: ' 9000 ', DEMO_PORT_C: '' })).toEqual({
      provider: 8080,
      schools: [8081, 9000, 4003],
    });
    expect(() => demoPorts({ DEMO_PORT_B: 'next' })).toThrow(/DEMO_PORT_B must be a port number/);
    expect(() => demoPorts({ DEMO_PORT_C: '70000' })).toThrow(/DEMO_PORT_C/);
  });

  describe('seeding, twice', () => {
    let storage: TestStorage;
    let gatehouse: TestGatehouse;

    beforeAll(async () => {
      storage = await createTestStorage();
      gatehouse = await startTestGatehouse(storage);
    });

    afterAll(async () => {
      await gatehouse?.close();
      await storage?.drop();
    });

    test('finds what the first run made and adds nothing twice; a password Jo chose is kept; Sam has none', async () => {
      const { services } = gatehouse;
      const urls = ['http://localhost:4001', 'http://localhost:4002', 'http://localhost:4003'];
      const first = await seedDemo(services, urls);
      const jo = (await services.accounts.findByEmail(DEMO_EMAIL))!;
      expect(jo.passwordHash).not.toBeNull();
      expect((await services.accounts.findByEmail(FIRST_TIME_EMAIL))!.passwordHash).toBeNull();
      await services.repositories.accounts.setPasswordHash(jo.id, 'a password Jo chose in the demo');

      const second = await seedDemo(services, urls);
      expect(second.map((school) => [school.id, school.clientId, school.url])).toEqual(
        first.map((school) => [school.id, school.clientId, school.url]),
      );
      // Secrets are stored sealed: a second run cannot read the first one's, so it makes a new one.
      expect(second.map((school) => school.clientSecret)).not.toEqual(first.map((school) => school.clientSecret));
      expect((await services.schools.list()).map((school) => school.name).sort()).toEqual([
        'Hill Primary School',
        'Oak Academy',
        'Ysgol y Bryn',
      ]);
      const clients = await services.repositories.clients.page({ search: undefined, after: null, limit: 100 });
      expect(clients.map((client) => client.redirectUris).sort()).toEqual(urls.map((url) => [`${url}/callback`]));
      expect((await services.accounts.findByEmail(DEMO_EMAIL))!.passwordHash).toBe('a password Jo chose in the demo');
      expect((await services.accounts.findByEmail(FIRST_TIME_EMAIL))!.passwordHash).toBeNull();
      const grants = await services.repositories.adminRoles.page({ after: null, limit: 100 });
      expect(grants.map((grant) => [grant.email, grant.role, grant.schoolId])).toEqual([[DEMO_EMAIL, 'school-admin', first[1]!.id]]);
      expect(first[2]!.uiLocales).toBe('cy');

      // Another port for a school system (DEMO_PORT_A changed): a client of its own for that address.
      const moved = await seedDemo(services, ['http://localhost:5001', ...urls.slice(1)]);
      expect(moved[0]!.clientId).not.toBe(first[0]!.clientId);
      expect(moved.slice(1).map((school) => school.clientId)).toEqual(first.slice(1).map((school) => school.clientId));
      expect(await services.schools.list()).toHaveLength(3);
    });
  });

  test('starts, keeps its data when started again, starts afresh with --fresh; Welsh at C; “Manage your account” at A; the first-time mail’s link in the outbox and the log', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-demo-'));
    try {
      const ports = [await freePort(), await freePort(), await freePort(), await freePort()];
      // As a developer runs it: the demo's own log level (warn), its own embedded database.
      const { LOG_LEVEL: _level, ...inherited } = process.env;
      const env = {
        ...inherited,
        NODE_ENV: 'development',
        DATABASE_URL: '',
        PORT: String(ports[0]),
        DEMO_PORT_A: String(ports[1]),
        DEMO_PORT_B: String(ports[2]),
        DEMO_PORT_C: String(ports[3]),
        DEMO_DATA_DIR: dataDir,
      };
      const issuer = `http://localhost:${ports[0]}`;
      const [a, , c] = ports.slice(1).map((port) => `http://localhost:${port}`);
      /** The client id school system A sends people to Gatehouse with. */
      const clientIdOfA = async () =>
        new URL((await fetch(`${a}/login`, { redirect: 'manual' })).headers.get('location')!).searchParams.get('client_id');

      const demo = await startDemo(env);
      expect(demo.output()).toContain(`School system A: ${a}`);
      expect(demo.output()).toContain(`School system C: ${c}`);
      expect(demo.output()).toContain(FIRST_TIME_EMAIL);
      expect(demo.output()).toContain(path.join(dataDir, 'outbox'));
      const clientId = await clientIdOfA();
      expect(clientId).toMatch(/^gh_/);

      // C is a Welsh-medium school: its sign-in asks for Welsh.
      const agent = new Agent(`${c}/callback`);
      const signIn = await agent.follow(await agent.get(`${c}/login`));
      expect(signIn.url).toContain(`${issuer}/interaction/`);
      expect(/<html lang="([a-z]+)"/.exec(signIn.html)?.[1]).toBe('cy');

      // Jo at A: signed in, the school system links to Account settings, which names the school.
      const jo = new Agent('http://localhost:1/never');
      const joLogin = await jo.follow(await jo.get(`${a}/login`));
      const home = await jo.follow(
        await jo.post(new URL(formAction(joLogin.html), issuer).toString(), {
          _csrf: formField(joLogin.html, '_csrf'),
          email: DEMO_EMAIL,
          password: DEMO_PASSWORD,
        }),
      );
      expect(home.url).toBe(`${a}/`);
      const manage = decodeAttribute(/<a id="manage-account" href="([^"]+)"/.exec(home.html)?.[1] ?? '');
      expect(manage).toBe(`${issuer}/account?client_id=${clientId}`);
      const account = await jo.follow(await jo.get(manage));
      expect(account.url).toMatch(new RegExp(`^${issuer}/account`));
      expect(/<h1 class="school">([^<]+)<\/h1>/.exec(account.html)?.[1]).toBe('Hill Primary School');

      // Sam's first time: the link is in the outbox and on a log line the demo shows.
      const forgot = await agent.get(`${issuer}/password/forgot`);
      const sent = await agent.post(new URL(formAction(forgot.html), issuer).toString(), {
        _csrf: formField(forgot.html, '_csrf'),
        email: FIRST_TIME_EMAIL,
      });
      expect(sent.status).toBe(200);
      const line = await demo.waitFor(/"msg":"mail written to outbox \(no SMTP_URL\)"/);
      const { file, link } = JSON.parse(line) as { file: string; link: string };
      expect(link).toMatch(new RegExp(`^${issuer}/password/reset\\?`));
      expect(path.dirname(file)).toBe(path.join(dataDir, 'outbox'));
      expect(await fs.readFile(file, 'utf8')).toContain(FIRST_TIME_EMAIL);
      expect(await demo.stop()).toBe(0);

      // Started again: the same school systems and the mail kept.
      const again = await startDemo(env);
      expect(await clientIdOfA()).toBe(clientId);
      expect(await fs.readdir(path.join(dataDir, 'outbox'))).toEqual([path.basename(file)]);
      expect(await again.stop()).toBe(0);

      // --fresh: nothing kept.
      const fresh = await startDemo(env, ['--fresh']);
      expect(await clientIdOfA()).not.toBe(clientId);
      await expect(fs.readdir(path.join(dataDir, 'outbox'))).rejects.toThrow(/ENOENT/);
      expect(await fresh.stop()).toBe(0);
    } finally {
      // A failed expectation must not leave a demo running.
      await Promise.all(started.splice(0).map((demo) => demo.stop()));
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  }, 180_000);
});

/** Every demo this file started, stopped at the end of its test whatever happened. */
const started: Array<{ stop(): Promise<number | null> }> = [];

/** `node examples/demo.ts`, as `npm run demo` runs it, until it prints its banner. */
async function startDemo(env: NodeJS.ProcessEnv, args: string[] = []) {
  const child = spawn(NODE, ['examples/demo.ts', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const stop = () =>
    new Promise<number | null>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
      child.once('exit', (code) => resolve(code));
      child.kill('SIGTERM');
    });
  started.push({ stop });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const waitFor = async (pattern: RegExp, timeout = 60_000): Promise<string> => {
    const deadline = Date.now() + timeout;
    for (;;) {
      const line = output.split('\n').find((candidate) => pattern.test(candidate));
      if (line) return line;
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`The demo did not print ${pattern}:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  await waitFor(/Ctrl\+C stops/);
  return { output: () => output, waitFor, stop };
}
