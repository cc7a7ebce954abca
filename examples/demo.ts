import fs from 'node:fs/promises';
import path from 'node:path';
import { startGatehouse } from '../src/app.ts';
import { loadConfig } from '../src/config/index.ts';
import { createLogger } from '../src/logger.ts';
import { DEMO_EMAIL, DEMO_PASSWORD, demoPorts, FIRST_TIME_EMAIL, seedDemo } from './demo-seed.ts';
import { startExampleSchoolSystem } from './school-system/app.ts';

/**
 * `npm run demo`: Gatehouse on PORT (3000), an embedded database under data/demo, and the example
 * school system three times, for three schools (DEMO_PORT_A, _B, _C: 4001, 4002, 4003), so you can
 * click through single sign-on, switching schools, step-up, Welsh pages and a first-time sign-in.
 * The data is kept between runs (seeding adds only what is missing); `npm run demo -- --fresh`
 * starts again from nothing. DEMO_DATA_DIR moves the data elsewhere.
 */
const fresh = process.argv.slice(2).includes('--fresh');
const ports = demoPorts(process.env);
const dataDir = path.resolve(process.env.DEMO_DATA_DIR || 'data/demo');
if (fresh) await fs.rm(dataDir, { recursive: true, force: true });

const config = loadConfig({ ...process.env, PORT: String(ports.provider), DATA_DIR: dataDir, DATABASE_URL: '' });
// warn: the outbox's "mail written" line (with the link) is logged at warn without SMTP_URL.
const logger = createLogger(process.env.LOG_LEVEL ?? 'warn');
const gatehouse = await startGatehouse(config, logger);
const systems: Array<Awaited<ReturnType<typeof startExampleSchoolSystem>>> = [];
const stop = async () => {
  await Promise.all(systems.map((system) => system.close()));
  await gatehouse.close();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());

const schools = await seedDemo(
  gatehouse.services,
  ports.schools.map((port) => `http://localhost:${port}`),
);
for (const [index, school] of schools.entries()) {
  systems.push(
    await startExampleSchoolSystem({
      issuer: config.issuer,
      clientId: school.clientId,
      clientSecret: school.clientSecret,
      title: `${school.name} — Example MIS`,
      port: ports.schools[index]!,
      ...(school.uiLocales ? { uiLocales: school.uiLocales } : {}),
    }),
  );
}
const [a, b, c] = schools as [(typeof schools)[number], (typeof schools)[number], (typeof schools)[number]];
const outbox = path.join(dataDir, 'outbox');

process.stdout.write(`
Gatehouse demo (data in ${dataDir}: kept between runs; npm run demo -- --fresh starts again)
  Provider:        ${config.issuer}   (Account settings: ${config.issuer}/account)
  Console:         ${config.issuer}/admin   (the demo user administers ${b.name})
  School system A: ${a.url}   (${a.name}: basic member; port DEMO_PORT_A)
  School system B: ${b.url}   (${b.name}: higher member; port DEMO_PORT_B)
  School system C: ${c.url}   (${c.name}, a Welsh-medium school: it asks for Welsh pages with ui_locales=cy; port DEMO_PORT_C)
  Ports: PORT for the provider (default 3000), DEMO_PORT_A/B/C for the school systems (default 4001/4002/4003).

  Sign in as ${DEMO_EMAIL} / "${DEMO_PASSWORD}" (unless you changed it).
  Then switch schools from the drop-down, open "Reports" at B to step up (you will be asked to
  set up an authenticator app), and "Manage your account" for Account settings under the school's name.
  Every page has a "Cymraeg" / "English" link at the top right; C's pages start in Welsh.

  First-time sign-in: ${FIRST_TIME_EMAIL} has no password yet. At A or C, follow "Forgotten your
  password or using SSO for the first time?", enter that address, then open the link in the mail.
  There is no SMTP_URL, so each mail is a file in ${outbox}
  and its link is also logged here, on a "mail written to outbox (no SMTP_URL)" line.
  Ctrl+C stops.
`);
