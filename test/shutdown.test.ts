import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { freePort, startTestGatehouse } from './support/gatehouse.ts';
import { REDIRECT_URI } from './support/scenario.ts';
import { spawnGatehouse } from './support/process.ts';

/**
 * SIGTERM as a process manager sends it, to a spawned server under keep-alive load: stop
 * accepting, tell clients to go (Connection: close), let requests in flight finish, close the pool
 * and the embedded database, exit 0, all within a few seconds.
 */
let storage: TestStorage;

beforeAll(async () => {
  storage = await createTestStorage();
});

afterAll(async () => {
  await storage?.drop();
});

type Outcome = { status?: number; connection?: string | undefined; error?: string; afterSignal: boolean };

/** Several keep-alive sockets, each sending the next request as soon as the last one answers. */
function keepAliveLoad(url: string, sockets: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  const outcomes: Outcome[] = [];
  let signalled = false;
  let running = true;
  const once = () =>
    new Promise<void>((resolve) => {
      const afterSignal = signalled;
      const request = http.get(`${url}/readyz`, { agent }, (response) => {
        response.resume();
        response.on('end', () => {
          outcomes.push({ status: response.statusCode!, connection: response.headers.connection, afterSignal });
          resolve();
        });
      });
      request.on('error', (error: NodeJS.ErrnoException) => {
        outcomes.push({ error: error.code ?? error.message, afterSignal });
        resolve();
      });
    });
  const workers = Array.from({ length: sockets }, async () => {
    while (running) await once();
  });
  return {
    outcomes,
    agent,
    signalled: () => (signalled = true),
    async stop() {
      running = false;
      await Promise.all(workers);
      agent.destroy();
    },
  };
}

/** A form post that announces its length and sends only part of the body: in flight until `finish`. */
async function requestInFlight(port: number) {
  const body = 'email=late%40hill.example';
  const socket = net.connect(port, 'localhost');
  await new Promise((resolve) => socket.once('connect', resolve));
  let received = '';
  socket.on('data', (chunk) => (received += chunk));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(
    `POST /password/forgot HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 6)}`,
  );
  return {
    socket,
    /** Sends the rest; resolves with the response once the server has closed the socket. */
    async finish() {
      socket.write(body.slice(6));
      await closed;
      return received;
    },
  };
}

/** A keep-alive socket that has had one answer and sits idle until `ask` sends the next request on it. */
async function idleKeepAliveSocket(port: number) {
  const socket = net.connect(port, 'localhost');
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.on('error', () => undefined);
  let received = '';
  socket.on('data', (chunk) => (received += chunk));
  const request = 'GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n';
  /** Waits until what arrived after `from` holds a whole readiness answer (its JSON body). */
  const answered = async (from: number) => {
    for (let attempt = 0; attempt < 200 && !received.slice(from).includes('"status":'); attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    return received.slice(from);
  };
  socket.write(request);
  await answered(0);
  return {
    /** Sends a second request on the same socket; resolves with the second answer. */
    async ask() {
      const before = received.length;
      socket.write(request);
      return answered(before);
    },
  };
}

/** Resolves once the server has stopped accepting (a new connection is refused): draining has begun. */
async function refusesConnections(port: number) {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const refused = await new Promise<boolean>((resolve) => {
      const probe = net.connect(port, 'localhost');
      probe.once('connect', () => {
        probe.destroy();
        resolve(false);
      });
      probe.once('error', () => resolve(true));
    });
    if (refused) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the server kept accepting connections after SIGTERM');
}

test('SIGTERM under keep-alive load drains, closes the database and exits 0 within a few seconds', async () => {
  const port = await freePort();
  const server = await spawnGatehouse(storage, port);
  const url = `http://localhost:${port}`;
  const load = keepAliveLoad(url, 6);
  const inFlight = await requestInFlight(port);
  const idle = await idleKeepAliveSocket(port);
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const servedBefore = load.outcomes.length;
  const started = Date.now();
  load.signalled();
  const exited = server.stop();
  await refusesConnections(port);
  const idleAnswer = await idle.ask();
  const lastAnswer = await inFlight.finish();
  const exitCode = await exited;
  const elapsed = Date.now() - started;
  await load.stop();

  expect(servedBefore).toBeGreaterThan(20);
  expect(exitCode).toBe(0);
  expect(elapsed).toBeLessThan(5_000);
  // The request in flight was answered (not cut), told the client to go, and its socket closed.
  expect(lastAnswer).toMatch(/^HTTP\/1\.1 4\d\d /);
  expect(lastAnswer).toMatch(/\r\nConnection: close\r\n/i);
  // Under load: every answer before the signal was a 200. After it, a request already sent on an
  // open keep-alive socket is answered (readiness 503 "stopping", Connection: close) and never
  // reset under the client; a client that comes back finds the port closed (refused: safe to retry).
  expect(load.outcomes.filter((outcome) => !outcome.afterSignal && outcome.status !== 200)).toEqual([]);
  const after = load.outcomes.filter((outcome) => outcome.afterSignal);
  expect(after.filter((outcome) => outcome.error !== undefined && outcome.error !== 'ECONNREFUSED')).toEqual([]);
  expect(after.filter((outcome) => outcome.status !== undefined && outcome.status !== 200 && outcome.status !== 503)).toEqual([]);
  // Whether the load's own requests met the drain before or after readiness turned is a race; a
  // request sent on an idle keep-alive socket once draining has begun is not.
  expect(idleAnswer).toMatch(/^HTTP\/1\.1 503 /);
  expect(idleAnswer).toMatch(/\r\nConnection: close\r\n/i);
  expect(idleAnswer).toContain('"status":"stopping"');
  for (const outcome of after.filter((each) => each.status === 503)) expect(outcome.connection).toBe('close');
  expect(server.output()).not.toMatch(/"level":(50|60)/);
  if (!storage.databaseUrl) {
    // The embedded database was closed: lock released, socket removed.
    expect(fs.existsSync(path.join(storage.dataDir, 'pgdata.lock'))).toBe(false);
    expect(fs.existsSync(path.join(storage.dataDir, 'run', '.s.PGSQL.5432'))).toBe(false);
  }
}, 60_000);

test('a request that never finishes is cut at SHUTDOWN_TIMEOUT_SECONDS, and shutdown still completes', async () => {
  const port = await freePort();
  const server = await spawnGatehouse(storage, port, { SHUTDOWN_TIMEOUT_SECONDS: '2' });
  // A form post that announces 1000 bytes and sends 10: the request stays in flight.
  const socket = net.connect(port, 'localhost');
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(
    'POST /password/forgot HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nemail=a%40',
  );
  const socketClosed = new Promise((resolve) => socket.once('close', resolve));
  socket.on('error', () => undefined);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const started = Date.now();
  const exitCode = await server.stop();
  const elapsed = Date.now() - started;
  await socketClosed;
  expect(exitCode).toBe(0);
  expect(elapsed).toBeGreaterThanOrEqual(1_900);
  expect(elapsed).toBeLessThan(6_000);
  if (!storage.databaseUrl) expect(fs.existsSync(path.join(storage.dataDir, 'pgdata.lock'))).toBe(false);
}, 60_000);

test('audit events raised just before shutdown are written before the database closes', async () => {
  const gatehouse = await startTestGatehouse(storage);
  const { provider } = await gatehouse.services.oidc();
  const iat = await new provider.InitialAccessToken({ expiresIn: 600, policies: ['school-system'] }).save();
  // The provider audits a registration after answering it. Slow that audit work down (the real
  // query, 300 ms later), so that it is still running when shutdown starts.
  const clientSchools = gatehouse.services.repositories.clientSchools;
  const schoolsOf = clientSchools.schoolsOf.bind(clientSchools);
  clientSchools.schoolsOf = async (clientId) => {
    await new Promise((resolve) => setTimeout(resolve, 300));
    return schoolsOf(clientId);
  };
  const registered = await fetch(`${gatehouse.url}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${iat}` },
    body: JSON.stringify({ client_name: 'Late Library', redirect_uris: [REDIRECT_URI] }),
  });
  expect(registered.status).toBe(201);
  const clientId = ((await registered.json()) as { client_id: string }).client_id;
  await gatehouse.close();

  const after = await startTestGatehouse(storage);
  try {
    const events = await after.database.dataSource.query(`SELECT event, outcome FROM audit_events WHERE client_id = $1`, [clientId]);
    expect(events).toEqual([{ event: 'client.registered', outcome: 'success' }]);
  } finally {
    await after.close();
  }
}, 60_000);
