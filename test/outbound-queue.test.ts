import pino from 'pino';
import { loadConfig } from '../src/config/index.ts';
import { openDatabase, type Database } from '../src/db/database.ts';
import { createServices, type Services } from '../src/services.ts';
import { Writable } from 'node:stream';
import { OutboundDeliveryService, PermanentDeliveryError, DEFAULT_SCHEDULE, SLOTS } from '../src/domain/outbound.ts';
import { startOutboundWorker } from '../src/oidc/outbound-worker.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';

/** The queue's rules on real PostgreSQL: claims, their expiry, and when to stop trying. */
let storage: TestStorage;
let database: Database;
let services: Services;

beforeAll(async () => {
  storage = await createTestStorage();
  database = await openDatabase({ databaseUrl: storage.databaseUrl, dataDir: storage.dataDir });
  await database.migrate();
  const config = loadConfig({ DATA_DIR: storage.dataDir, ...(storage.databaseUrl ? { DATABASE_URL: storage.databaseUrl } : {}) });
  services = await createServices(database, config, pino({ level: 'silent' }));
}, 60_000);

afterAll(async () => {
  services?.mailer.close();
  await database?.close();
  await storage?.drop();
});

beforeEach(async () => {
  await database.dataSource.query(`DELETE FROM outbound_deliveries`);
  await database.dataSource.query(`DELETE FROM audit_events`);
});

const queue = () => services.repositories.outboundDeliveries;
const row = (id: string) =>
  database.dataSource
    .query(`SELECT status, attempts, last_error, claim_token FROM outbound_deliveries WHERE id = $1`, [id])
    .then((rows) => rows[0]);
const enqueue = (clientId = 'c1') =>
  queue().enqueue({ kind: 'test_call', clientId, destination: 'https://mis.example/x', payload: { n: 1 } });

/** Claims what is due and waits for those attempts to end. */
async function deliverDue(outbound: OutboundDeliveryService): Promise<number> {
  const claimed = await outbound.startDue();
  await outbound.settled();
  return claimed;
}

const silent = () => pino({ level: 'silent' });

test('a claim is taken once; a claim whose holder died expires and is taken again, counting the attempt', async () => {
  const live = await enqueue('live');
  const abandoned = await enqueue('abandoned');
  const later = await enqueue('later');
  await database.dataSource.query(`UPDATE outbound_deliveries SET next_attempt_at = now() + interval '1 hour' WHERE id = $1`, [later]);

  const first = await queue().claimDue(10, 60, 'one');
  expect(first.map((delivery) => delivery.clientId).sort()).toEqual(['abandoned', 'live']);
  expect(await queue().claimDue(10, 60, 'two')).toEqual([]);

  // The process holding "abandoned" dies: its lease runs out and another process takes it.
  await database.dataSource.query(`UPDATE outbound_deliveries SET claimed_until = now() - interval '1 second' WHERE id = $1`, [abandoned]);
  const second = await queue().claimDue(10, 60, 'two');
  expect(second.map((delivery) => [delivery.clientId, delivery.attempts])).toEqual([['abandoned', 2]]);

  // The first holder's late answer cannot overwrite the new claim.
  const stale = first.find((delivery) => delivery.id === abandoned)!;
  expect(await queue().markDelivered(abandoned, stale.claimToken)).toBe(false);
  expect(await queue().markDelivered(abandoned, second[0]!.claimToken)).toBe(true);
  expect(await queue().markDelivered(live, first.find((delivery) => delivery.id === live)!.claimToken)).toBe(true);
  expect(await row(abandoned)).toMatchObject({ status: 'delivered', attempts: 2, claim_token: null });
});

test('a failure is rescheduled with its reason; a permanent one, or one past 24 h, is given up and audited', async () => {
  const outbound = new OutboundDeliveryService(services.repositories, services.audit, services.logger, {
    ...DEFAULT_SCHEDULE,
    baseSeconds: 10,
  });
  const retried = await enqueue('retried');
  const gone = await enqueue('gone');
  const old = await enqueue('old');
  await database.dataSource.query(
    `UPDATE outbound_deliveries SET created_at = now() - interval '23 hours 59 minutes 55 seconds' WHERE id = $1`,
    [old],
  );
  outbound.registerSender('test_call', async (delivery) => {
    if (delivery.clientId === 'gone') throw new PermanentDeliveryError('the client no longer exists');
    return {
      destination: delivery.destination,
      send: async () => {
        throw new Error('expected 200 OK, got: 503 Service Unavailable');
      },
    };
  });

  expect(await deliverDue(outbound)).toBe(3);
  expect(await row(retried)).toMatchObject({
    status: 'pending',
    attempts: 1,
    last_error: expect.stringContaining('503'),
    claim_token: null,
  });
  const [{ wait }] = await database.dataSource.query(
    `SELECT extract(epoch FROM next_attempt_at - now())::int AS wait FROM outbound_deliveries WHERE id = $1`,
    [retried],
  );
  expect(wait).toBeGreaterThanOrEqual(8);
  expect(wait).toBeLessThanOrEqual(10);
  expect(await row(gone)).toMatchObject({ status: 'given_up', last_error: 'the client no longer exists' });
  expect(await row(old)).toMatchObject({ status: 'given_up' });
  expect(await deliverDue(outbound)).toBe(0);

  const events = await database.dataSource.query(`SELECT event, outcome, client_id FROM audit_events ORDER BY client_id`);
  expect(events).toEqual([
    { event: 'test_call.given_up', outcome: 'failure', client_id: 'gone' },
    { event: 'test_call.given_up', outcome: 'failure', client_id: 'old' },
    { event: 'test_call.failed', outcome: 'failure', client_id: 'retried' },
  ]);
});

test('finished rows are swept after a week; pending ones never', async () => {
  const finished = await enqueue('finished');
  const pending = await enqueue('pending');
  const [claimed] = (await queue().claimDue(10, 60, 'one')).filter((delivery) => delivery.id === finished);
  await queue().markDelivered(finished, claimed!.claimToken);
  await database.dataSource.query(
    `UPDATE outbound_deliveries SET created_at = now() - interval '30 days', finished_at = now() - interval '8 days' WHERE id = $1`,
    [finished],
  );
  await database.dataSource.query(`UPDATE outbound_deliveries SET created_at = now() - interval '30 days' WHERE id = $1`, [pending]);
  expect(await queue().deleteFinished(new Date(Date.now() - 7 * 86_400_000))).toBe(1);
  expect(await row(finished)).toBeUndefined();
  expect(await row(pending)).toMatchObject({ status: 'pending' });
});

test('attempts are independent: one destination that hangs holds one slot while every other delivery goes through', async () => {
  const outbound = new OutboundDeliveryService(services.repositories, services.audit, silent(), { ...DEFAULT_SCHEDULE, baseSeconds: 10 });
  let release!: () => void;
  const hanging = new Promise<void>((resolve) => (release = resolve));
  outbound.registerSender('test_call', async (delivery) => ({
    destination: delivery.destination,
    send: () => (delivery.clientId === 'hangs' ? hanging : Promise.resolve()),
  }));
  // The hanging one is claimed first, with as many others as fill the slots, and more waiting.
  const stuck = await enqueue('hangs');
  await database.dataSource.query(`UPDATE outbound_deliveries SET next_attempt_at = now() - interval '1 minute' WHERE id = $1`, [stuck]);
  const others = 2 * SLOTS;
  for (let i = 0; i < others; i += 1) await enqueue(`fine-${i}`);

  const worker = startOutboundWorker(outbound, silent());
  try {
    const delivered = async () =>
      (await database.dataSource.query(`SELECT count(*)::int AS n FROM outbound_deliveries WHERE status = 'delivered'`))[0].n as number;
    const deadline = Date.now() + 10_000;
    while ((await delivered()) < others && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await delivered()).toBe(others);
    expect(await row(stuck)).toMatchObject({ status: 'pending', claim_token: expect.any(String) });
    expect(outbound.freeSlots).toBe(SLOTS - 1);
  } finally {
    release();
    await worker.stop();
  }
  expect(await row(stuck)).toMatchObject({ status: 'delivered' });
});

test('a destination that never answers audits its first failure and the give-up; every retry is logged', async () => {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _encoding, done) => (lines.push(String(chunk)), done()) }));
  const outbound = new OutboundDeliveryService(services.repositories, services.audit, logger, { ...DEFAULT_SCHEDULE, baseSeconds: 10 });
  outbound.registerSender('test_call', async (delivery) => ({
    destination: delivery.destination,
    send: async () => {
      throw new Error('connect ECONNREFUSED');
    },
  }));
  await outbound.enqueue({ kind: 'test_call', clientId: 'dead', destination: 'https://mis.example/x', payload: {} });
  const id = (await database.dataSource.query(`SELECT id FROM outbound_deliveries`))[0].id as string;
  const retries = 6;
  for (let i = 0; i < retries; i += 1) {
    await database.dataSource.query(`UPDATE outbound_deliveries SET next_attempt_at = now() WHERE id = $1`, [id]);
    expect(await deliverDue(outbound)).toBe(1);
  }
  // The last one falls past the 24 h horizon.
  await database.dataSource.query(
    `UPDATE outbound_deliveries SET next_attempt_at = now(), created_at = now() - interval '24 hours' WHERE id = $1`,
    [id],
  );
  expect(await deliverDue(outbound)).toBe(1);
  expect(await row(id)).toMatchObject({ status: 'given_up', attempts: retries + 1 });

  const events = await database.dataSource.query(`SELECT event FROM audit_events WHERE client_id = 'dead' ORDER BY id`);
  expect(events.map((event: { event: string }) => event.event)).toEqual(['test_call.queued', 'test_call.failed', 'test_call.given_up']);
  expect(lines.filter((line) => line.includes('outbound delivery failed; will retry'))).toHaveLength(retries);
  expect(lines.filter((line) => line.includes('outbound delivery given up'))).toHaveLength(1);
});

test('the destination logged and audited is the one the attempt used, not the one queued', async () => {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _encoding, done) => (lines.push(String(chunk)), done()) }));
  const outbound = new OutboundDeliveryService(services.repositories, services.audit, logger, { ...DEFAULT_SCHEDULE, baseSeconds: 10 });
  // The client changed its URI after the logout was queued.
  outbound.registerSender('test_call', async (delivery) => ({
    destination: 'https://new.mis.example/logout',
    send: async () => {
      if (delivery.attempts === 1) throw new Error('expected 200 OK, got: 500 Internal Server Error');
    },
  }));
  await outbound.enqueue({ kind: 'test_call', clientId: 'moved', destination: 'https://old.mis.example/logout', payload: {} });
  await deliverDue(outbound);
  await database.dataSource.query(`UPDATE outbound_deliveries SET next_attempt_at = now()`);
  await deliverDue(outbound);

  const events = await database.dataSource.query(
    `SELECT event, detail->>'destination' AS destination FROM audit_events WHERE client_id = 'moved' ORDER BY id`,
  );
  expect(events).toEqual([
    { event: 'test_call.queued', destination: 'https://old.mis.example/logout' },
    { event: 'test_call.failed', destination: 'https://new.mis.example/logout' },
    { event: 'test_call.delivered', destination: 'https://new.mis.example/logout' },
  ]);
  const attempts = lines.filter((line) => line.includes('outbound delivery')).map((line) => JSON.parse(line).destination);
  expect(attempts).toEqual(['https://new.mis.example/logout', 'https://new.mis.example/logout']);
});
