import pg from 'pg';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { Agent, formField } from './support/agent.ts';
import { startSmtpServer } from './support/smtp.ts';

/** The database briefly unavailable: /readyz says 503, and recovers by itself. */
let storage: TestStorage;

beforeAll(async () => {
  storage = await createTestStorage();
});

afterAll(async () => {
  await storage?.drop();
});

async function readiness(gatehouse: TestGatehouse): Promise<number> {
  return (await fetch(`${gatehouse.url}/readyz`)).status;
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

test('readiness follows the database down and back up, and the process survives', async () => {
  if (storage.databaseUrl) {
    // PostgreSQL: refuse new connections and cut the existing ones.
    const gatehouse = await startTestGatehouse(storage);
    const name = new URL(storage.databaseUrl).pathname.slice(1);
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    try {
      expect(await readiness(gatehouse)).toBe(200);
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [name]);
      await eventually(async () => (await readiness(gatehouse)) === 503);
      expect(await (await fetch(`${gatehouse.url}/healthz`)).json()).toEqual({ status: 'ok' });
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      await eventually(async () => (await readiness(gatehouse)) === 200);
    } finally {
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`).catch(() => undefined);
      await admin.end();
      await gatehouse.close();
    }
  } else {
    // Embedded: a second process served by the first loses the database when the first stops,
    // and finds it again when a new owner serves the same DATA_DIR.
    const owner = await startTestGatehouse(storage);
    const guest = await startTestGatehouse(storage, { ISSUER: owner.issuer });
    expect(await readiness(guest)).toBe(200);
    await owner.close();
    await eventually(async () => (await readiness(guest)) === 503);
    const newOwner = await startTestGatehouse(storage, { ISSUER: owner.issuer });
    await eventually(async () => (await readiness(guest)) === 200);
    await guest.close();
    await newOwner.close();
  }
}, 90_000);

test('shutdown waits for password mail a request has already started', async () => {
  const smtp = await startSmtpServer();
  const gatehouse = await startTestGatehouse(storage, { SMTP_URL: smtp.url });
  try {
    const school = await gatehouse.services.schools.add({ name: 'Hill Primary School', postcode: 'HP1 1AA' });
    await gatehouse.services.accounts.addUser({ email: 'late@hill.example', memberships: [{ schoolId: school.id, accessLevel: 'basic' }] });
    const agent = new Agent('http://localhost:1/');
    const form = await agent.get(`${gatehouse.issuer}/password/forgot`);
    const sent = await agent.post(`${gatehouse.issuer}/password/forgot`, {
      _csrf: formField(form.html, '_csrf'),
      email: 'late@hill.example',
    });
    expect(sent.status).toBe(200);
  } finally {
    await gatehouse.close();
  }
  await smtp.waitFor('late@hill.example', /Set your Gatehouse password/, 5_000);
  await smtp.close();
}, 60_000);
