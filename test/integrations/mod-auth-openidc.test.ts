import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import type { Browser, Page } from 'playwright-core';
import { loadConfig } from '../../src/config/index.ts';
import { openDatabase, type Database } from '../../src/db/database.ts';
import { createServices, type Services } from '../../src/services.ts';
import { assertApacheInstalled, startApache, withApacheLog, type RunningApache } from '../support/apache.ts';
import { launchChromium, logIn } from '../support/browser.ts';
import { createTestStorage, type TestStorage } from '../support/database.ts';
import { freePort } from '../support/gatehouse.ts';
import { ROOT, spawnGatehouse } from '../support/process.ts';
import { addSchool, addStaff } from '../support/scenario.ts';
import { within } from '../support/spawned.ts';
import { codeFor } from '../support/totp.ts';

/**
 * The Apache mod_auth_openidc guide, followed to the letter: the school system is registered with
 * the guide's own `client add` and `client link` commands, Apache (Debian's, mod_auth_openidc 2.4.12)
 * runs the guide's configuration file as it is (only the environment it names differs), Gatehouse
 * runs as its own process on the test's PostgreSQL database (an ISSUER off loopback and
 * OUTBOUND_ALLOW=127.0.0.1, so back-channel logout may reach Apache on loopback), and Chromium signs
 * in through it all. Behind Apache is a small application that echoes the headers it was given.
 */
const GUIDE = path.join(ROOT, 'docs/integrations/apache-mod-auth-openidc.md');
const CONF = path.join(ROOT, 'docs/integrations/apache/gatehouse-openidc.conf');
const ACR_BASIC = 'urn:gatehouse:acr:basic';
const ACR_HIGHER = 'urn:gatehouse:acr:higher';
const run = promisify(execFile);

type Seen = { path: string; headers: Record<string, string | undefined> };

/** The application behind Apache: records every request and answers with what it saw. */
async function startEchoApp() {
  const requests: Seen[] = [];
  const server = http.createServer((req, res) => {
    const seen: Seen = { path: req.url ?? '/', headers: req.headers as Record<string, string | undefined> };
    requests.push(seen);
    const body = seen.path.startsWith('/signed-out')
      ? '<h1 id="signed-out">Signed out of Hill MIS</h1>'
      : `<h1 id="app">Hill MIS</h1><pre id="seen">${JSON.stringify(seen).replace(/</g, '\\u003c')}</pre>`;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(`<!doctype html><title>Hill MIS</title>${body}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * This machine's IPv4 address on its network (not loopback), where Gatehouse also listens. With
 * such an ISSUER, Gatehouse is not in development mode: calling Apache on 127.0.0.1 for back-channel
 * logout takes OUTBOUND_ALLOW, as it would for a school system on a trust's private network. On a
 * machine with no network at all, localhost (where loopback is allowed anyway).
 */
function hostOffLoopback(): string | undefined {
  return Object.values(os.networkInterfaces())
    .flat()
    .find((address) => address && address.family === 'IPv4' && !address.internal)?.address;
}

/**
 * A command from the guide, as written there (continuation lines joined), run with bash in the
 * project with `env`: the integrator's first afternoon, not a copy of it.
 */
async function runGuideCommand(startsWith: string, env: Record<string, string>): Promise<Record<string, unknown>> {
  const lines = fs.readFileSync(GUIDE, 'utf8').split('\n');
  const first = lines.findIndex((line) => line.startsWith(startsWith));
  if (first < 0) throw new Error(`The guide has no command starting with: ${startsWith}`);
  const command: string[] = [];
  for (let i = first; i < lines.length; i++) {
    command.push(lines[i]!);
    if (!lines[i]!.trimEnd().endsWith('\\')) break;
  }
  const { stdout } = await run('bash', ['-c', command.join('\n')], { cwd: ROOT, env: { ...process.env, ...env } });
  return JSON.parse(stdout) as Record<string, unknown>;
}

let storage: TestStorage;
let database: Database;
let services: Services;
let gatehouse: Awaited<ReturnType<typeof spawnGatehouse>>;
/** Gatehouse's ISSUER: this machine's own address on its network, as a trust's would be. */
let issuer: string;
let apache: RunningApache | undefined;
let app: Awaited<ReturnType<typeof startEchoApp>>;
let browser: Browser;
let credentials: { clientId: string; clientSecret: string };
const schools = { hill: '', oak: '', brook: '' };

beforeAll(async () => {
  assertApacheInstalled();
  storage = await createTestStorage();
  database = await openDatabase({ databaseUrl: storage.databaseUrl, dataDir: storage.dataDir });
  await database.migrate();
  const config = loadConfig({ DATA_DIR: storage.dataDir, ...(storage.databaseUrl ? { DATABASE_URL: storage.databaseUrl } : {}) });
  services = await createServices(database, config, pino({ level: 'silent' }));
  schools.hill = (await addSchool(services, 'Hill Primary School', 'HP1 1AA')).id;
  schools.oak = (await addSchool(services, 'Oak Academy', 'OA1 1AA')).id;
  schools.brook = (await addSchool(services, 'Brook Academy', 'BR1 3AC')).id;

  app = await startEchoApp();
  const apachePort = await freePort();
  const schoolSystemUrl = `http://127.0.0.1:${apachePort}`;
  const gatehousePort = await freePort();
  issuer = `http://${hostOffLoopback() ?? 'localhost'}:${gatehousePort}`;
  gatehouse = await spawnGatehouse(storage, gatehousePort, {
    ISSUER: issuer,
    // Apache is on 127.0.0.1; with an ISSUER off loopback, Gatehouse calls it only when told to.
    OUTBOUND_ALLOW: '127.0.0.1',
    // Access tokens of one minute, so that a session outlives several within the test.
    ACCESS_TOKEN_TTL_MINUTES: '1',
  });

  // Registering the school system: the guide's commands, as written.
  const cli = { DATABASE_URL: storage.databaseUrl ?? '', DATA_DIR: storage.dataDir };
  const added = await runGuideCommand('npm run -s admin -- client add', {
    ...cli,
    SCHOOL_ID: schools.hill,
    SCHOOL_SYSTEM_URL: schoolSystemUrl,
  });
  credentials = { clientId: String(added.client_id), clientSecret: String(added.client_secret) };
  await runGuideCommand('npm run -s admin -- client link', {
    ...cli,
    GATEHOUSE_CLIENT_ID: credentials.clientId,
    OTHER_SCHOOL_ID: schools.oak,
  });

  apache = await startApache({
    include: CONF,
    port: apachePort,
    env: {
      GATEHOUSE_ISSUER: issuer,
      GATEHOUSE_CLIENT_ID: credentials.clientId,
      GATEHOUSE_CLIENT_SECRET: credentials.clientSecret,
      OIDC_CRYPTO_PASSPHRASE: 'a passphrase for this test only, long enough',
      SCHOOL_SYSTEM_URL: schoolSystemUrl,
      SCHOOL_ID: schools.hill,
      APP_URL: app.url,
    },
  });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await apache?.stop();
  await app?.close();
  if (gatehouse) expect(await gatehouse.stop()).toBe(0);
  services?.mailer.close();
  await database?.close();
  await storage?.drop();
});

/** A test whose failure message carries Apache's error log. */
const scenario = (name: string, body: () => Promise<void>, timeout = 90_000) =>
  test(name, () => withApacheLog(() => apache, body), timeout);

/**
 * A new browser (no cookies) opening `path` on the school system; `requested` collects every URL
 * it asks for from then on.
 */
async function open(path: string) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const requested: string[] = [];
  page.on('request', (request) => requested.push(request.url()));
  await page.goto(`${apache!.url}${path}`);
  return { context, page, requested };
}

/** The authorization requests (to Gatehouse's /auth) among `requested`. */
const authorizationRequests = (requested: string[]) =>
  requested.filter((url) => url.startsWith(`${issuer}/auth?`)).map((url) => new URL(url));

/** What the application behind Apache saw for the page now shown (its path and request headers). */
async function seenByApp(page: Page): Promise<Seen> {
  await page.locator('#seen').waitFor();
  return JSON.parse((await page.locator('#seen').textContent()) ?? '{}') as Seen;
}

/** The claims headers the application got, names without the OIDC_CLAIM_ prefix (Node lower-cases names). */
function claimHeaders(seen: Seen): Record<string, string> {
  return Object.fromEntries(
    Object.entries(seen.headers)
      .filter(([name]) => name.startsWith('oidc_claim_'))
      .map(([name, value]) => [name.slice('oidc_claim_'.length), String(value)]),
  );
}

/** Gatehouse's login page is showing (the person is not signed in there). */
async function atGatehouseLogin(page: Page) {
  await page.getByRole('button', { name: 'Log in', exact: true }).waitFor();
  expect(page.url().startsWith(`${issuer}/interaction/`)).toBe(true);
}

async function account(email: string) {
  const [row] = await database.dataSource.query(`SELECT id, email, name FROM accounts WHERE email = $1`, [email]);
  return row as { id: string; email: string; name: string };
}

/** The account's schools as the database has them. */
async function membershipsOf(accountId: string) {
  return (await database.dataSource.query(
    `SELECT s.id, s.name, s.postcode FROM memberships m JOIN schools s ON s.id = m.school_id WHERE m.account_id = $1`,
    [accountId],
  )) as Array<{ id: string; name: string; postcode: string }>;
}

async function introspect(token: string) {
  const response = await fetch(`${issuer}/token/introspection`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${credentials.clientId}:${credentials.clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ token }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as { active: boolean; client_id?: string; sub?: string };
}

scenario('the guide shows the configuration file the test runs, and its command registered the school system', async () => {
  const guide = fs.readFileSync(GUIDE, 'utf8');
  const conf = fs.readFileSync(CONF, 'utf8');
  expect(guide).toContain(`\`\`\`apache\n${conf}\`\`\``);
  // Every excerpt the guide explains is the file's own lines (the one other block includes the file).
  const excerpts = [...guide.matchAll(/```apacheconf\n([\s\S]*?)```/g)].map((match) => match[1]!);
  expect(excerpts.length).toBeGreaterThanOrEqual(4);
  for (const excerpt of excerpts.filter((block) => !block.startsWith('<VirtualHost'))) expect(conf).toContain(excerpt);
  const [stored] = await database.dataSource.query(`SELECT payload FROM oidc_payloads WHERE model = 'Client' AND id = $1`, [
    credentials.clientId,
  ]);
  expect(stored.payload).toMatchObject({
    redirect_uris: [`${apache!.url}/redirect_uri`],
    post_logout_redirect_uris: [`${apache!.url}/signed-out`],
    backchannel_logout_uri: `${apache!.url}/redirect_uri?logout=backchannel`,
    token_endpoint_auth_method: 'client_secret_basic',
  });
  const served: Array<{ school_id: string }> = await database.dataSource.query(
    `SELECT school_id FROM client_schools WHERE client_id = $1`,
    [credentials.clientId],
  );
  expect(served.map((row) => row.school_id).sort()).toEqual([schools.hill, schools.oak].sort());
});

scenario('a member of staff signs in through Apache and the application gets the flat school claims from the database', async () => {
  await addStaff(services, 'jo@hill.example', [
    { schoolId: schools.hill, accessLevel: 'basic' },
    // A school this system does not serve: still one Jo can switch to (school_ids).
    { schoolId: schools.brook, accessLevel: 'basic' },
  ]);
  const jo = await account('jo@hill.example');
  const { context, page, requested } = await open('/app/');
  await atGatehouseLogin(page);
  await logIn(page, 'jo@hill.example');
  const seen = await seenByApp(page);
  expect(new URL(page.url()).pathname).toBe('/app/');
  expect(seen.path).toBe('/app/');

  const memberships = await membershipsOf(jo.id);
  const hill = memberships.find((school) => school.id === schools.hill)!;
  const claims = claimHeaders(seen);
  expect(claims).toMatchObject({
    sub: jo.id,
    email: jo.email,
    name: jo.name,
    school_id: hill.id,
    school_name: hill.name,
    access_level: 'basic',
    acr: ACR_BASIC,
  });
  // school_ids: every school of the account, joined with commas.
  expect(claims.school_ids!.split(',').sort()).toEqual(memberships.map((school) => school.id).sort());
  expect(claims.school_ids!.split(',')).toHaveLength(2);
  // `schools` (an array of objects, which mod_auth_openidc cannot pass on) is left out, quietly.
  expect(claims.schools).toBeUndefined();
  expect(apache!.errorLog()).not.toContain('unhandled in-array JSON object type');
  // `school` (one object) arrives as JSON text.
  expect(JSON.parse(claims.school!)).toEqual(hill);
  expect(seen.headers.oidc_access_token).toBeTruthy();

  // The authorization request mod_auth_openidc sent: PKCE S256 and the guide's scope.
  const [authorization] = authorizationRequests(requested);
  expect(authorization?.searchParams.get('code_challenge_method')).toBe('S256');
  expect(authorization?.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(authorization?.searchParams.get('scope')).toBe('openid email profile school offline_access');

  // A header the browser forges is not what the application receives.
  await context.setExtraHTTPHeaders({ OIDC_CLAIM_school_id: schools.oak, OIDC_CLAIM_access_level: 'higher', OIDC_CLAIM_role: 'admin' });
  await page.reload();
  const forged = claimHeaders(await seenByApp(page));
  expect(forged).toMatchObject({ school_id: hill.id, access_level: 'basic' });
  expect(forged.role).toBeUndefined();
  expect(apache!.errorLog()).toContain('scrubbed suspicious request header (OIDC_CLAIM_role: admin)');
  await context.close();
});

scenario('Require claim school_id: staff of another school the system serves are refused with 403', async () => {
  await addStaff(services, 'kim@hill.example', [{ schoolId: schools.hill, accessLevel: 'basic' }]);
  await addStaff(services, 'sam@oak.example', [{ schoolId: schools.oak, accessLevel: 'basic' }]);

  const kim = await open('/school/timetable');
  await atGatehouseLogin(kim.page);
  await logIn(kim.page, 'kim@hill.example');
  const kimSaw = await seenByApp(kim.page);
  expect(kimSaw.path).toBe('/school/timetable');
  expect(claimHeaders(kimSaw).school_id).toBe(schools.hill);
  await kim.context.close();

  // Sam works at Oak Academy, which this system also serves: signed in, but not for Hill's pages.
  const sam = await open('/app/');
  await atGatehouseLogin(sam.page);
  await logIn(sam.page, 'sam@oak.example');
  expect(claimHeaders(await seenByApp(sam.page))).toMatchObject({ school_id: schools.oak, school_ids: schools.oak });
  const before = app.requests.length;
  const refused = await sam.page.goto(`${apache!.url}/school/timetable`);
  expect(refused?.status()).toBe(403);
  expect(reached(before, '/school/')).toEqual([]);
  await sam.context.close();
});

scenario('step-up: /reports/ sends a basic session back to Gatehouse for higher access, and only the code gets there', async () => {
  const ali = await addStaff(services, 'ali@hill.example', [{ schoolId: schools.hill, accessLevel: 'higher' }]);
  const { context, page, requested } = await open('/app/');
  await atGatehouseLogin(page);
  await logIn(page, 'ali@hill.example');
  // A higher member with no second factor yet signs in at basic.
  await page.getByRole('button', { name: 'Continue with basic access' }).click();
  expect(claimHeaders(await seenByApp(page))).toMatchObject({ acr: ACR_BASIC, access_level: 'basic' });

  // Later that morning Ali sets up an authenticator app.
  const device = await services.authenticators.beginEnrolment(ali);
  await services.authenticators.completeEnrolment(ali, device.enrolment, 'Phone', codeFor(device.manualKey), { ip: '127.0.0.1' });

  const before = app.requests.length;
  requested.length = 0;
  await page.goto(`${apache!.url}/reports/attainment`);
  await page.getByRole('heading', { name: 'Enter your code' }).waitFor();
  // mod_auth_openidc asked for higher access (OIDCPathAuthRequestParams), and Gatehouse says so.
  expect(authorizationRequests(requested).map((url) => url.searchParams.get('acr_values'))).toEqual([ACR_HIGHER]);
  await page.getByText('asked for higher access').waitFor();

  // Without the code the reports are not reached: going there again comes back to the code.
  await page.goto(`${apache!.url}/reports/attainment`);
  await page.getByRole('heading', { name: 'Enter your code' }).waitFor();
  expect(reached(before, '/reports/')).toEqual([]);

  await page.getByLabel('Code').fill(codeFor(device.manualKey, 1));
  await page.getByRole('button', { name: 'Continue' }).click();
  const seen = await seenByApp(page);
  expect(seen.path).toBe('/reports/attainment');
  const claims = claimHeaders(seen);
  expect(claims).toMatchObject({ acr: ACR_HIGHER, access_level: 'higher', school_id: schools.hill, email: 'ali@hill.example' });
  expect(claims.amr!.split(',')).toEqual(['pwd', 'otp', 'mfa']);
  await context.close();
});

scenario(
  'refresh: the session outlives its one-minute access token with new ones from Gatehouse, until Gatehouse refuses one',
  async () => {
    await addStaff(services, 'lee@hill.example', [{ schoolId: schools.hill, accessLevel: 'basic' }]);
    const lee = await account('lee@hill.example');
    const { context, page } = await open('/app/');
    await atGatehouseLogin(page);
    await logIn(page, 'lee@hill.example');
    const first = await seenByApp(page);
    const token1 = first.headers.oidc_access_token!;
    const expires1 = Number(first.headers.oidc_access_token_expires);
    expect(expires1 - Date.now() / 1000).toBeGreaterThan(45);
    expect(expires1 - Date.now() / 1000).toBeLessThanOrEqual(60);

    // More than 30 seconds left: the same token.
    await page.reload();
    expect((await seenByApp(page)).headers.oidc_access_token).toBe(token1);

    // Within its last 30 seconds, requests a page sends together (fetch) do not refresh it: they
    // would spend the one refresh token several times, and Gatehouse would revoke the sign-in.
    await sleepUntil(expires1 - 10);
    const together = await page.evaluate(() =>
      Promise.all(
        [1, 2, 3, 4].map(async (n) => {
          const response = await fetch(`/app/widget/${n}`, { redirect: 'manual' });
          return { status: response.status, text: await response.text() };
        }),
      ),
    );
    for (const { status, text } of together) {
      expect(status).toBe(200);
      expect(text).toContain(token1);
    }
    expect(await refreshTokensOf(lee.id)).toEqual({ spent: 0, live: 1 });

    // The next page load has Apache refresh it.
    await page.reload();
    const second = await seenByApp(page);
    const token2 = second.headers.oidc_access_token!;
    const expires2 = Number(second.headers.oidc_access_token_expires);
    expect(token2).not.toBe(token1);
    expect(expires2).toBeGreaterThan(expires1);
    expect(await introspect(token2)).toMatchObject({ active: true, client_id: credentials.clientId, sub: lee.id });
    // Gatehouse issued it for the refresh token Apache held, which is now spent (rotated).
    expect(await refreshTokensOf(lee.id)).toEqual({ spent: 1, live: 1 });

    // Past the first token's expiry, the session goes on, with the token Gatehouse gave for it.
    await sleepUntil(expires1 + 1);
    expect(await introspect(token1)).toMatchObject({ active: false });
    await page.reload();
    const third = await seenByApp(page);
    expect(third.path).toBe('/app/');
    expect(third.headers.oidc_access_token).toBe(token2);

    // Lee leaves Hill: Gatehouse revokes the grants Lee's membership there gave (the Gatehouse
    // session is not ended, so no logout token is sent). The next refresh is refused, and
    // logout_on_error ends the Apache session there and then.
    const helpdesk = { actor: { kind: 'operator', user: 'test' }, helpdesk: true, schoolIds: new Set<string>() } as const;
    await services.admin.staff.removeMember(helpdesk, schools.hill, lee.id);
    await sleepUntil(expires2 - 30 + 1);
    const before = app.requests.length;
    await page.reload();
    await page.locator('#signed-out').waitFor();
    expect(reached(before, '/app/')).toEqual([]);
    // Lee is still signed in at Gatehouse, but belongs to no school this system serves any more.
    await page.goto(`${apache!.url}/app/`);
    await page.getByText('Your account does not have access to').waitFor();
    expect(reached(before, '/app/')).toEqual([]);
    await context.close();
  },
  150_000,
);

scenario('logout from the school system: /redirect_uri?logout= ends both sessions and comes back to /signed-out', async () => {
  await addStaff(services, 'pat@hill.example', [{ schoolId: schools.hill, accessLevel: 'basic' }]);
  const { context, page, requested } = await open('/app/');
  await atGatehouseLogin(page);
  await logIn(page, 'pat@hill.example');
  await seenByApp(page);

  await page.goto(`${apache!.url}/redirect_uri?logout=${encodeURIComponent(`${apache!.url}/signed-out`)}`);
  expect(page.url().startsWith(`${issuer}/session/end`)).toBe(true);
  // mod_auth_openidc ended its own session and sent the ID token as the hint, and where to come back.
  const endSession = new URL(requested.find((url) => url.startsWith(`${issuer}/session/end?`))!);
  expect(endSession.searchParams.get('id_token_hint')).toMatch(/^ey/);
  expect(endSession.searchParams.get('post_logout_redirect_uri')).toBe(`${apache!.url}/signed-out`);
  // The system serves two schools, so the page says Gatehouse's own name (SERVICE_NAME).
  await page.getByRole('button', { name: 'Log out of Gatehouse', exact: true }).click();
  await page.locator('#signed-out').waitFor();
  expect(page.url()).toBe(`${apache!.url}/signed-out`);

  await page.goto(`${apache!.url}/app/`);
  await atGatehouseLogin(page);
  await context.close();
});

scenario('back-channel logout: a logout that starts at Gatehouse reaches Apache, and the next page asks to sign in', async () => {
  await addStaff(services, 'mo@hill.example', [{ schoolId: schools.hill, accessLevel: 'basic' }]);
  const mo = await account('mo@hill.example');
  const { context, page } = await open('/app/');
  await atGatehouseLogin(page);
  await logIn(page, 'mo@hill.example');
  await seenByApp(page);

  // Mo logs out at Gatehouse itself: nothing goes through Apache's browser-facing side.
  const before = app.requests.length;
  await page.goto(`${issuer}/session/end`);
  await page.getByRole('button', { name: 'Log out of Gatehouse', exact: true }).click();
  await page.getByRole('heading', { name: 'You have logged out' }).waitFor();
  await within(
    20,
    () => deliveries(mo.id),
    (events) => events.some((event) => event.startsWith('backchannel_logout.delivered')),
  );

  await page.goto(`${apache!.url}/app/`);
  await atGatehouseLogin(page);
  expect(reached(before, '/app/')).toEqual([]);
  await context.close();
});

scenario('back-channel logout: the helpdesk locking the account ends the Apache session at once, not at the next refresh', async () => {
  await addStaff(services, 'kit@hill.example', [{ schoolId: schools.hill, accessLevel: 'basic' }]);
  const kit = await account('kit@hill.example');
  const { context, page } = await open('/app/');
  await atGatehouseLogin(page);
  await logIn(page, 'kit@hill.example');
  const signedIn = await seenByApp(page);
  const expires = Number(signedIn.headers.oidc_access_token_expires);

  const before = app.requests.length;
  await services.accounts.setStatus('kit@hill.example', 'locked');
  await within(
    20,
    () => deliveries(kit.id),
    (events) => events.some((event) => event.startsWith('backchannel_logout.delivered')),
  );
  // Well inside the access token's life, so no refresh could have told Apache.
  expect(Date.now() / 1000).toBeLessThan(expires - 30);
  await page.goto(`${apache!.url}/app/`);
  await atGatehouseLogin(page);
  // The application's pages (the browser may still ask Apache for /favicon.ico on its own).
  expect(reached(before, '/app/')).toEqual([]);
  await context.close();
});

/** The paths under `prefix` the application was asked for since it had `before` requests. */
const reached = (before: number, prefix: string) =>
  app.requests
    .slice(before)
    .map((request) => request.path)
    .filter((path) => path.startsWith(prefix));

async function sleepUntil(epochSeconds: number) {
  const wait = epochSeconds * 1000 - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

/** The account's refresh tokens for this system: spent (rotated) and live ones. */
async function refreshTokensOf(accountId: string) {
  const rows: Array<{ consumed_at: Date | null }> = await database.dataSource.query(
    `SELECT consumed_at FROM oidc_payloads WHERE model = 'RefreshToken' AND payload->>'accountId' = $1 AND payload->>'clientId' = $2`,
    [accountId, credentials.clientId],
  );
  return { spent: rows.filter((row) => row.consumed_at).length, live: rows.filter((row) => !row.consumed_at).length };
}

/** The back-channel logout events of the account's sessions at this system, oldest first, with their reasons. */
async function deliveries(accountId: string): Promise<string[]> {
  const rows: Array<{ event: string; reason: string | null }> = await database.dataSource.query(
    `SELECT event, reason FROM audit_events WHERE client_id = $1 AND account_id = $2 AND event LIKE 'backchannel_logout.%' ORDER BY id`,
    [credentials.clientId, accountId],
  );
  return rows.map((row) => (row.reason ? `${row.event}: ${row.reason}` : row.event));
}
