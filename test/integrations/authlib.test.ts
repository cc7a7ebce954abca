import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { loadConfig } from '../../src/config/index.ts';
import { openDatabase, type Database } from '../../src/db/database.ts';
import { createServices, type Services } from '../../src/services.ts';
import { launchChromium, logIn, scanQrCode } from '../support/browser.ts';
import { createTestStorage, type TestStorage } from '../support/database.ts';
import { freePort } from '../support/gatehouse.ts';
import { ROOT, spawnGatehouse } from '../support/process.ts';
import { addSchool, addStaff } from '../support/scenario.ts';
import { adminCli } from '../support/spawned.ts';
import { codeFor } from '../support/totp.ts';

/**
 * docs/integrations/python-authlib.md, run: Gatehouse in its own process, the client registered with
 * the guide's CLI command, the guide's Flask app (docs/integrations/authlib/app.py) under Debian's
 * Python with Debian's authlib, and Chromium signing in through it.
 *
 * The seven tests after the first (the guide's code is the app's) are one story, told in order:
 * one person in one browser page, signed in, refreshed, stepped up, then logged out. Each test
 * starts from the page and the sessions (the app's and Gatehouse's) the one before left. Run the
 * file whole: one of the seven run alone with `-t` fails by design, as the state it starts from is missing.
 */

const PYTHON = '/usr/bin/python3';
const DEBIAN_PACKAGES = 'python3-authlib python3-flask python3-requests';
const GUIDE = fs.readFileSync(path.join(ROOT, 'docs/integrations/python-authlib.md'), 'utf8');
const APP = path.join(ROOT, 'docs/integrations/authlib/app.py');
const APP_SOURCE = fs.readFileSync(APP, 'utf8');
/** Where the guide's examples say the app is. */
const GUIDE_BASE_URL = 'http://127.0.0.1:5000';
const HIGHER = 'urn:gatehouse:acr:higher';
const BASIC = 'urn:gatehouse:acr:basic';
const email = 'deputy@hill.example';

/** The guide's fenced blocks of one language. */
const FENCE = '`'.repeat(3);
const blocks = (language: string) =>
  [...GUIDE.matchAll(new RegExp(`${FENCE}${language}\\n([\\s\\S]*?)${FENCE}`, 'g'))].map((match) => match[1]!);

/** A shell command's words: backslash-newlines joined, double quotes honoured. */
const shellWords = (command: string) =>
  [...command.replace(/\\\n/g, ' ').matchAll(/"([^"]*)"|(\S+)/g)].map((match) => match[1] ?? match[2]!);

let storage: TestStorage;
let database: Database;
let services: Services;
let gatehouse: Awaited<ReturnType<typeof spawnGatehouse>>;
let app: ChildProcess | undefined;
let appOutput = '';
let appUrl: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let schoolId: string;
let accountId: string;

beforeAll(async () => {
  const probe = spawnSync(PYTHON, ['-c', 'import authlib.integrations.flask_client, flask, requests'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    throw new Error(
      `The authlib guide runs under Debian's ${PYTHON} with Debian's packages, which are missing: ` +
        `apt-get install -y ${DEBIAN_PACKAGES}\n${probe.error?.message ?? probe.stderr}`,
    );
  }
  storage = await createTestStorage();
  gatehouse = await spawnGatehouse(storage, await freePort());
  database = await openDatabase({ databaseUrl: storage.databaseUrl, dataDir: storage.dataDir });
  const config = loadConfig({ DATA_DIR: storage.dataDir, ...(storage.databaseUrl ? { DATABASE_URL: storage.databaseUrl } : {}) });
  services = await createServices(database, config, pino({ level: 'silent' }));

  // Higher at the school the app serves, basic at another school of the trust (listed first: A before H).
  schoolId = (await addSchool(services, 'Hill Primary School', 'HP1 1AA')).id;
  const otherSchoolId = (await addSchool(services, 'Ash Grove School', 'AG1 1AA')).id;
  accountId = (
    await addStaff(services, email, [
      { schoolId, accessLevel: 'higher' },
      { schoolId: otherSchoolId, accessLevel: 'basic' },
    ])
  ).id;

  // The guide's `client add`, for this app's address.
  const appPort = await freePort();
  appUrl = `http://127.0.0.1:${appPort}`;
  const command = blocks('sh').find((block) => block.includes('client add'));
  const words = shellWords(command!.replaceAll('<schoolId>', schoolId).replaceAll(GUIDE_BASE_URL, appUrl));
  expect(words.slice(0, 4)).toEqual(['npm', 'run', '-s', 'admin']);
  expect(words[4]).toBe('--');
  const credentials = JSON.parse(await adminCli(storage, words.slice(5))) as { client_id: string; client_secret: string };

  // The guide's environment: exactly the variables app.py reads, and nothing else.
  const run = blocks('sh').find((block) => block.includes('app.py'))!;
  const named = [...run.matchAll(/^export (\w+)=/gm)].map((match) => match[1]!).sort();
  const required = [...APP_SOURCE.matchAll(/os\.environ\["(\w+)"\]/g)].map((match) => match[1]!).sort();
  expect(named).toEqual(required);
  const values: Record<string, string> = {
    GATEHOUSE_ISSUER: gatehouse.url,
    GATEHOUSE_CLIENT_ID: credentials.client_id,
    GATEHOUSE_CLIENT_SECRET: credentials.client_secret,
    APP_BASE_URL: appUrl,
    APP_SECRET_KEY: 'a test secret that signs the session cookie',
  };
  expect(Object.keys(values).sort()).toEqual(named);
  app = spawn(PYTHON, [APP], { cwd: path.dirname(APP), env: { PATH: process.env.PATH ?? '', ...values, PORT: String(appPort) } });
  app.stdout!.on('data', (chunk) => (appOutput += chunk));
  app.stderr!.on('data', (chunk) => (appOutput += chunk));
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ok = await fetch(`${appUrl}/`).then(
      (response) => response.ok,
      () => false,
    );
    if (ok) break;
    if (app.exitCode !== null || Date.now() > deadline) throw new Error(`The Flask app did not start:\n${appOutput}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  browser = await launchChromium();
  context = await browser.newContext();
  page = await context.newPage();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  if (app && app.exitCode === null) {
    const exited = new Promise((resolve) => app!.once('exit', resolve));
    app.kill('SIGTERM');
    await exited;
  }
  await gatehouse?.stop();
  services?.mailer.close();
  await database?.close();
  await storage?.drop();
});

/** Every python block of the guide is in app.py as it stands: the guide shows the code the test runs. */
test('the guide’s code is the app’s code', () => {
  const shown = blocks('python');
  expect(shown.length).toBeGreaterThanOrEqual(5);
  for (const block of shown) expect({ block, inApp: APP_SOURCE.includes(block) }).toEqual({ block, inApp: true });
});

/**
 * The next authorization request the app sends the browser to Gatehouse with, changed on its way
 * (Playwright's routes see only the first request of a redirect chain: change the app's redirect).
 */
async function tamperWithNextAuthorization(change: (params: URLSearchParams) => void) {
  const startsSignIn = (url: URL) => url.origin === appUrl && ['/login', '/step-up'].includes(url.pathname);
  await page.route(
    startsSignIn,
    async (route) => {
      const response = await route.fetch({ maxRedirects: 0 });
      const location = new URL(response.headers().location!);
      expect(location.origin + location.pathname).toBe(`${gatehouse.url}/auth`);
      change(location.searchParams);
      await route.fulfill({ response, headers: { ...response.headers(), location: location.toString() } });
    },
    { times: 1 },
  );
}

async function shown() {
  await page.locator('#sub').waitFor();
  const text = async (id: string) => (await page.locator(`#${id}`).textContent())?.trim();
  return {
    sub: await text('sub'),
    school_id: await text('school_id'),
    school_name: await text('school_name'),
    school_ids: (await page.locator('#school_ids li').allTextContents()).map((id) => id.trim()).sort(),
    access_level: await text('access_level'),
    acr: await text('acr'),
  };
}

async function refusal() {
  const refused = page.locator('#refused');
  await refused.waitFor({ timeout: 10_000 }).catch((error) => {
    throw new Error(`The app did not refuse: at ${page.url()}\n${error}\n${appOutput.slice(-2000)}`);
  });
  return (await refused.textContent())!;
}

/** What the database says the app should show (access level: the membership's, before the second factor rule). */
async function fromDatabase() {
  const [school] = await database.dataSource.query('SELECT id, name FROM schools WHERE id = $1', [schoolId]);
  const memberships: Array<{ school_id: string; access_level: string }> = await database.dataSource.query(
    'SELECT school_id, access_level FROM memberships WHERE account_id = $1',
    [accountId],
  );
  return {
    sub: accountId,
    school_id: school.id as string,
    school_name: school.name as string,
    school_ids: memberships.map((row) => row.school_id).sort(),
    level: memberships.find((row) => row.school_id === schoolId)!.access_level,
  };
}

test('an ID token whose nonce is not the one the app sent is refused', async () => {
  await tamperWithNextAuthorization((params) => params.set('nonce', 'a-nonce-the-app-never-sent'));
  await page.goto(`${appUrl}/login`);
  await logIn(page, email);
  // A higher member without a second factor is offered one; this time they go on at basic.
  await page.getByRole('button', { name: 'Continue with basic access' }).click();
  expect(await refusal()).toMatch(/invalid_claim: .*nonce/);
  await page.goto(`${appUrl}/`);
  await page.locator('#signed-out').waitFor();
}, 60_000);

test('signed in, the app shows the flat school claims the database holds, from the ID token and at userinfo', async () => {
  await page.goto(`${appUrl}/login`); // single sign-on: no password this time
  const database = await fromDatabase();
  expect(database.level).toBe('higher');
  const { level: _level, ...expected } = database;
  expect(await shown()).toEqual({ ...expected, access_level: 'basic', acr: BASIC });
  expect(expected.school_ids).toHaveLength(2);
  expect(await page.locator('#email').textContent()).toBe(email);

  await page.goto(`${appUrl}/userinfo`);
  const info = JSON.parse((await page.locator('#userinfo').textContent())!);
  expect({ ...info, school_ids: [...info.school_ids].sort() }).toMatchObject({ ...expected, access_level: 'basic' });
}, 60_000);

test('a refresh gives a new access token, which userinfo accepts', async () => {
  await page.goto(`${appUrl}/`);
  const before = await page.locator('#access-token').textContent();
  const back = page.waitForEvent('framenavigated');
  await page.getByRole('button', { name: 'Refresh the access token' }).click();
  await back;
  const after = await page.locator('#access-token').textContent();
  expect(after).toMatch(/^[0-9a-f]{16}$/);
  expect(after).not.toBe(before);
  expect((await shown()).acr).toBe(BASIC);
  await page.goto(`${appUrl}/userinfo`);
  expect(JSON.parse((await page.locator('#userinfo').textContent())!)).toMatchObject({ sub: accountId, access_level: 'basic' });
}, 60_000);

test('a step-up whose acr_values was removed on the way comes back at basic, and the app refuses it', async () => {
  await tamperWithNextAuthorization((params) => params.delete('acr_values'));
  await page.goto(`${appUrl}/step-up`);
  expect(await refusal()).toMatch(/invalid_claim: .*acr/);
  await page.goto(`${appUrl}/`);
  expect((await shown()).acr).toBe(BASIC);
}, 60_000);

test('a step-up the person declines comes back as access_denied', async () => {
  await page.goto(`${appUrl}/step-up`);
  await page.getByRole('heading', { name: 'Add new device' }).waitFor();
  await page.getByRole('button', { name: 'Not now: go back without higher access' }).click();
  expect(await refusal()).toMatch(/^Not signed in: access_denied/);
}, 60_000);

test('a step-up with an authenticator code gives acr higher and the membership’s higher access', async () => {
  await page.goto(`${appUrl}/step-up`);
  await page.getByRole('heading', { name: 'Add new device' }).waitFor();
  const secret = await scanQrCode(page);
  await page.getByLabel('Name').fill('Phone');
  await page.getByLabel('Code').fill(codeFor(secret));
  await page.getByRole('button', { name: 'Save this device' }).click();
  const { level, ...expected } = await fromDatabase();
  expect(await shown()).toEqual({ ...expected, access_level: level, acr: HIGHER });
}, 60_000);

test('logout ends the Gatehouse session and the refresh token: the next sign-in asks for the password', async () => {
  const live = (model: string) =>
    database.dataSource
      .query(
        `SELECT count(*)::int AS n FROM oidc_payloads
          WHERE model = $1 AND payload->>'accountId' = $2 AND consumed_at IS NULL AND expires_at > now()`,
        [model, accountId],
      )
      .then(([row]) => row.n as number);
  expect(await live('Session')).toBe(1);
  expect(await live('RefreshToken')).toBeGreaterThan(0);

  await page.goto(`${appUrl}/`);
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('button', { name: 'Log out of Gatehouse' }).click();
  await page.locator('#logged-out').waitFor();
  expect(await live('Session')).toBe(0);
  expect(await live('RefreshToken')).toBe(0);

  await page.goto(`${appUrl}/login`);
  await page.getByLabel('Password', { exact: true }).waitFor();
  expect(new URL(page.url()).origin).toBe(gatehouse.url);
}, 60_000);
