import crypto from 'node:crypto';
import pino from 'pino';
import { createRemoteJWKSet, decodeJwt, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { loadConfig } from '../src/config/index.ts';
import { openDatabase, type Database } from '../src/db/database.ts';
import { createServices, type Services } from '../src/services.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { freePort } from './support/gatehouse.ts';
import { spawnGatehouse } from './support/process.ts';
import { startLogoutReceiver } from './support/receiver.ts';
import { within } from './support/spawned.ts';
import { addSchool, addStaff, Agent, PASSWORD, REDIRECT_URI } from './support/scenario.ts';
import { formAction, formField, type Page } from './support/agent.ts';

/**
 * Back-channel logout as operators run it: Gatehouse in its own OS process (where oidc-provider's
 * SSRF guard is live, unlike inside Jest's VM modules), a school system listening on 127.0.0.1.
 * This test process only prepares the database (no server, so no delivery worker of its own).
 */
const EVENT = 'http://schemas.openid.net/event/backchannel-logout';
let storage: TestStorage;
let database: Database;
let services: Services;
let schoolId: string;
let accountId: string;
const email = 'leaver@hill.example';

beforeAll(async () => {
  storage = await createTestStorage();
  database = await openDatabase({ databaseUrl: storage.databaseUrl, dataDir: storage.dataDir });
  await database.migrate();
  const config = loadConfig({ DATA_DIR: storage.dataDir, ...(storage.databaseUrl ? { DATABASE_URL: storage.databaseUrl } : {}) });
  services = await createServices(database, config, pino({ level: 'silent' }));
  schoolId = (await addSchool(services, 'Hill Primary School')).id;
  accountId = (await addStaff(services, email, [{ schoolId, accessLevel: 'basic' }])).id;
}, 60_000);

afterAll(async () => {
  services?.mailer.close();
  await database?.close();
  await storage?.drop();
});

async function schoolSystem(backchannelLogoutUri: string) {
  return services.clients.add({
    name: `MIS ${crypto.randomUUID()}`,
    schoolIds: [schoolId],
    redirectUris: [REDIRECT_URI],
    backchannelLogoutUri,
  });
}

/** Requests go to `base` (where the process listens) whatever host the issuer's URLs name. */
class LocalAgent extends Agent {
  private readonly issuer: string;
  private readonly base: string;
  constructor(issuer: string, base: string) {
    super(REDIRECT_URI);
    this.issuer = issuer;
    this.base = base;
  }
  override send(url: string, init: RequestInit): Promise<Page> {
    return super.send(url.replace(this.issuer, this.base), init);
  }
}

/** Signs in through `credentials`' client and exchanges the code: the ID token's claims. */
async function signIn(base: string, issuer: string, credentials: { clientId: string; clientSecret: string }) {
  const agent = new LocalAgent(issuer, base);
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  const query = new URLSearchParams({
    client_id: credentials.clientId,
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope: 'openid',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'st',
  });
  const login = await agent.follow(await agent.get(`${base}/auth?${query}`));
  const submitted = await agent.post(new URL(formAction(login.html), login.url).toString(), {
    _csrf: formField(login.html, '_csrf'),
    email,
    password: PASSWORD,
  });
  const callback = await agent.follow(submitted);
  const code = new URL(callback.location!).searchParams.get('code');
  expect(code).toBeTruthy();
  const token = await fetch(`${base}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${credentials.clientId}:${credentials.clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: code!, redirect_uri: REDIRECT_URI, code_verifier: verifier }),
  });
  expect(token.status).toBe(200);
  const { id_token: idToken } = (await token.json()) as { id_token: string };
  return { agent, claims: decodeJwt(idToken) };
}

/** "Log out of Gatehouse" on the hosted confirmation page; answers how long the POST took. */
async function logOut(agent: Agent, base: string): Promise<number> {
  const confirm = await agent.follow(await agent.get(`${base}/session/end`));
  const action = new URL(formAction(confirm.html), confirm.url).toString();
  const started = Date.now();
  const done = await agent.post(action, { xsrf: formField(confirm.html, 'xsrf'), logout: 'yes' });
  expect(done.status).toBeLessThan(400);
  return Date.now() - started;
}

async function auditEvents(clientId: string): Promise<Array<{ event: string; outcome: string; reason: string | null }>> {
  return database.dataSource.query(`SELECT event, outcome, reason FROM audit_events WHERE client_id = $1 ORDER BY id`, [clientId]);
}

describe('with a loopback ISSUER (development)', () => {
  let gatehouse: Awaited<ReturnType<typeof spawnGatehouse>>;
  beforeAll(async () => {
    gatehouse = await spawnGatehouse(storage, await freePort(), { OUTBOUND_RETRY_BASE_SECONDS: '1' });
  }, 60_000);
  afterAll(async () => {
    expect(await gatehouse?.stop()).toBe(0);
  });

  test('a school system on 127.0.0.1 receives a logout token that verifies, and the logout does not wait for it', async () => {
    const receiver = await startLogoutReceiver(() => ({ status: 200, delayMs: 1_500 }));
    try {
      const credentials = await schoolSystem(receiver.uri);
      const { agent, claims } = await signIn(gatehouse.url, gatehouse.url, credentials);
      const took = await logOut(agent, gatehouse.url);
      // The school system takes 1.5 s to answer; the person is not kept waiting for it.
      expect(took).toBeLessThan(1_000);

      const [arrival] = await receiver.waitFor(1);
      const jwks = createRemoteJWKSet(new URL(`${gatehouse.url}/jwks`));
      const { payload } = await jwtVerify(arrival!.logoutToken, jwks, { issuer: gatehouse.url, audience: credentials.clientId });
      expect(payload.sub).toBe(accountId);
      expect(payload.sub).toBe(claims.sub);
      expect(payload.sid).toBe(claims.sid);
      expect(payload.events).toEqual({ [EVENT]: {} });
      expect(payload.nonce).toBeUndefined();

      const events = await within(
        20,
        () => auditEvents(credentials.clientId),
        (rows) => rows.some((row) => row.event === 'backchannel_logout.delivered'),
      );
      expect(events.map((row) => row.event)).toEqual(expect.arrayContaining(['backchannel_logout.queued', 'backchannel_logout.delivered']));
      expect(receiver.arrivals).toHaveLength(1);
    } finally {
      await receiver.close();
    }
  }, 60_000);

  test('locking the account signs it out of the school systems its sessions reached, as a logout would', async () => {
    const receiver = await startLogoutReceiver(() => ({ status: 200 }));
    try {
      const credentials = await schoolSystem(receiver.uri);
      const { claims } = await signIn(gatehouse.url, gatehouse.url, credentials);
      // The helpdesk's lock (the same endSessions as mfa-reset and a new password), from another process.
      await services.accounts.setStatus(email, 'locked');
      const [arrival] = await receiver.waitFor(1);
      const jwks = createRemoteJWKSet(new URL(`${gatehouse.url}/jwks`));
      const { payload } = await jwtVerify(arrival!.logoutToken, jwks, { issuer: gatehouse.url, audience: credentials.clientId });
      expect([payload.sub, payload.sid]).toEqual([claims.sub, claims.sid]);
      const events = await within(
        20,
        () => auditEvents(credentials.clientId),
        (rows) => rows.some((row) => row.event === 'backchannel_logout.delivered'),
      );
      expect(events.map((row) => row.event).filter((event) => event.startsWith('backchannel_logout.'))).toEqual([
        'backchannel_logout.queued',
        'backchannel_logout.delivered',
      ]);
    } finally {
      await services.accounts.setStatus(email, 'active');
      await receiver.close();
    }
  }, 60_000);

  test('a school system that answers 500 twice gets a fresh token on the third attempt, after backing off', async () => {
    const receiver = await startLogoutReceiver((n) => ({ status: n <= 2 ? 500 : 200 }));
    try {
      const credentials = await schoolSystem(receiver.uri);
      const { agent, claims } = await signIn(gatehouse.url, gatehouse.url, credentials);
      await logOut(agent, gatehouse.url);
      const arrivals = await receiver.waitFor(3);
      // Backoff of 1 s, then 2 s (OUTBOUND_RETRY_BASE_SECONDS=1).
      expect(arrivals[1]!.at - arrivals[0]!.at).toBeGreaterThanOrEqual(900);
      expect(arrivals[2]!.at - arrivals[1]!.at).toBeGreaterThanOrEqual(1_900);
      const jwks = createRemoteJWKSet(new URL(`${gatehouse.url}/jwks`));
      const tokens = await Promise.all(
        arrivals.map(
          async ({ logoutToken }) =>
            (await jwtVerify(logoutToken, jwks, { issuer: gatehouse.url, audience: credentials.clientId })).payload,
        ),
      );
      // Minted again for every attempt: a late token is as fresh as the first.
      expect(new Set(tokens.map((token) => token.jti)).size).toBe(3);
      expect(tokens[2]!.iat!).toBeGreaterThan(tokens[0]!.iat! + 1);
      expect(tokens[2]!.sid).toBe(claims.sid);

      const events = await within(
        20,
        () => auditEvents(credentials.clientId),
        (rows) => rows.some((row) => row.event === 'backchannel_logout.delivered'),
      );
      // Two failures, the first audited (the second is in the log), then the delivery.
      const failures = events.filter((row) => row.event === 'backchannel_logout.failed');
      expect(failures).toHaveLength(1);
      expect(failures[0]).toMatchObject({ outcome: 'failure', reason: expect.stringContaining('500') });
      expect(gatehouse.output().match(/outbound delivery failed; will retry/g)).toHaveLength(2);
      const [row] = await database.dataSource.query(`SELECT status, attempts FROM outbound_deliveries WHERE client_id = $1`, [
        credentials.clientId,
      ]);
      expect(row).toEqual({ status: 'delivered', attempts: 3 });
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(receiver.arrivals).toHaveLength(3);
    } finally {
      await receiver.close();
    }
  }, 60_000);
});

describe('with a public ISSUER', () => {
  let receiver: Awaited<ReturnType<typeof startLogoutReceiver>>;
  let credentials: { clientId: string; clientSecret: string };
  let strict: Awaited<ReturnType<typeof spawnGatehouse>>;
  let port: number;
  let issuer: string;
  let base: string;
  beforeAll(async () => {
    receiver = await startLogoutReceiver();
    credentials = await schoolSystem(receiver.uri);
    port = await freePort();
    issuer = `http://gatehouse.test:${port}`;
    base = `http://localhost:${port}`;
    strict = await spawnGatehouse(storage, port, { ISSUER: issuer, OUTBOUND_RETRY_BASE_SECONDS: '1' });
  }, 60_000);
  afterAll(async () => {
    if (strict) await strict.stop();
    await receiver?.close();
  });

  test('a school system on 127.0.0.1 is refused; each attempt is logged, the first failure audited', async () => {
    const { agent } = await signIn(base, issuer, credentials);
    await logOut(agent, base);
    await within(
      20,
      async () => strict.output().match(/outbound delivery failed; will retry/g)?.length ?? 0,
      (retries) => retries >= 3,
    );
    const failures = (await auditEvents(credentials.clientId)).filter((row) => row.event === 'backchannel_logout.failed');
    expect(failures).toEqual([
      { event: 'backchannel_logout.failed', outcome: 'failure', reason: expect.stringContaining('OUTBOUND_ALLOW') },
    ]);
    expect(strict.output()).toContain('outbound call refused');
    expect(receiver.arrivals).toHaveLength(0);
  }, 60_000);

  test('a jwks_uri on a private address is refused by the same rule', async () => {
    const { provider } = await services.oidc();
    const initialAccessToken = await new provider.InitialAccessToken({ expiresIn: 600, policies: ['school-system'] }).save();
    const jwksUri = `https://127.0.0.1:${receiver.port}/jwks`;
    const registered = await fetch(`${base}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${initialAccessToken}` },
      body: JSON.stringify({
        client_name: 'Keyed MIS',
        redirect_uris: [REDIRECT_URI],
        grant_types: ['client_credentials'],
        response_types: [],
        token_endpoint_auth_method: 'private_key_jwt',
        jwks_uri: jwksUri,
      }),
    });
    expect(registered.status).toBe(201);
    const { client_id: clientId } = (await registered.json()) as { client_id: string };
    const { privateKey } = await generateKeyPair('RS256');
    const assertion = await new SignJWT({ jti: crypto.randomUUID() })
      .setProtectedHeader({ alg: 'RS256' })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(issuer)
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(privateKey);
    const token = await fetch(`${base}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: clientId,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion,
      }),
    });
    expect(token.status).toBeGreaterThanOrEqual(400);
    expect(token.status).toBeLessThan(500);
    expect(((await token.json()) as { error: string }).error).toBe('invalid_client');
    await within(
      20,
      async () => strict.output(),
      (output) => output.includes(`"destination":"https://127.0.0.1:${receiver.port}"`),
    );
  }, 60_000);

  test('OUTBOUND_ALLOW lets the queued token through after a restart', async () => {
    expect(await strict.stop()).toBe(0);
    // The row waited in PostgreSQL through the restart; the operator vouches for the range.
    const allowing = await spawnGatehouse(storage, port, {
      ISSUER: issuer,
      OUTBOUND_ALLOW: 'mis.trust.internal, 127.0.0.1/32',
      OUTBOUND_RETRY_BASE_SECONDS: '1',
    });
    try {
      const [arrival] = await receiver.waitFor(1);
      const jwks = createRemoteJWKSet(new URL(`${base}/jwks`));
      const { payload } = await jwtVerify(arrival!.logoutToken, jwks, { issuer, audience: credentials.clientId });
      expect(payload.sub).toBe(accountId);
      expect(payload.events).toEqual({ [EVENT]: {} });
      await within(
        20,
        () => auditEvents(credentials.clientId),
        (rows) => rows.some((row) => row.event === 'backchannel_logout.delivered'),
      );
    } finally {
      expect(await allowing.stop()).toBe(0);
    }
  }, 120_000);
});

test('two processes share the queue and never deliver the same row twice', async () => {
  // Each answer takes 2 s, so one process alone needs several rounds: the other joins in.
  const receiver = await startLogoutReceiver(() => ({ status: 200, delayMs: 2_000 }));
  const rows = 30;
  try {
    const credentials = await schoolSystem(receiver.uri);
    for (let i = 0; i < rows; i += 1) {
      await services.outbound.enqueue({
        kind: 'backchannel_logout',
        clientId: credentials.clientId,
        accountId,
        // Queued for a URI the client has since left: delivery uses, and records, its current one.
        destination: 'http://127.0.0.1:9/left',
        payload: { sub: accountId, sid: `sid-${i}` },
      });
    }
    const [one, two] = await Promise.all([spawnGatehouse(storage, await freePort()), spawnGatehouse(storage, await freePort())]);
    try {
      await within(
        60,
        () =>
          database.dataSource.query(`SELECT count(*)::int AS n FROM outbound_deliveries WHERE client_id = $1 AND status = 'delivered'`, [
            credentials.clientId,
          ]),
        (result: Array<{ n: number }>) => result[0]!.n === rows,
      );
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const sids = receiver.arrivals.map(({ logoutToken }) => decodeJwt(logoutToken).sid);
      expect(sids).toHaveLength(rows);
      expect(new Set(sids).size).toBe(rows);
      const workers = await database.dataSource.query(`SELECT DISTINCT claimed_by FROM outbound_deliveries WHERE client_id = $1`, [
        credentials.clientId,
      ]);
      expect(workers).toHaveLength(2);
      const destinations = await database.dataSource.query(
        `SELECT DISTINCT detail->>'destination' AS destination FROM audit_events WHERE client_id = $1 AND event = 'backchannel_logout.delivered'`,
        [credentials.clientId],
      );
      expect(destinations).toEqual([{ destination: receiver.uri }]);
    } finally {
      await Promise.all([one.stop(), two.stop()]);
    }
  } finally {
    await receiver.close();
  }
}, 120_000);

test('a school system that never answers does not hold up the others’ logouts', async () => {
  // The silent one is claimed first; oidc-provider gives up on it only after 2.5 s.
  const silent = await startLogoutReceiver(() => ({ status: 200, delayMs: 60_000 }));
  const prompt = await startLogoutReceiver();
  const others = 8;
  try {
    const stuck = await schoolSystem(silent.uri);
    const fine = await schoolSystem(prompt.uri);
    const queue = (clientId: string, sid: string) =>
      services.outbound.enqueue({ kind: 'backchannel_logout', clientId, accountId, destination: 'x', payload: { sub: accountId, sid } });
    await queue(stuck.clientId, 'sid-stuck');
    await database.dataSource.query(`UPDATE outbound_deliveries SET next_attempt_at = now() - interval '1 minute' WHERE client_id = $1`, [
      stuck.clientId,
    ]);
    for (let i = 0; i < others; i += 1) await queue(fine.clientId, `sid-${i}`);

    const gatehouse = await spawnGatehouse(storage, await freePort());
    try {
      const [held] = await silent.waitFor(1);
      const arrivals = await prompt.waitFor(others);
      // Every other logout arrives while the silent one is still being waited for.
      expect(Math.max(...arrivals.map((arrival) => arrival.at)) - held!.at).toBeLessThan(1_500);
    } finally {
      await gatehouse.stop();
    }
  } finally {
    await silent.close();
    await prompt.close();
  }
}, 60_000);
