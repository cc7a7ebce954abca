import fs from 'node:fs/promises';
import path from 'node:path';
import { operatorAuthority } from '../src/admin/authority.ts';
import { startGatehouse } from '../src/app.ts';
import { hashPassword } from '../src/auth/passwords.ts';
import { loadConfig } from '../src/config/index.ts';
import { createLogger } from '../src/logger.ts';
import { startExampleSchoolSystem } from './school-system/app.ts';

/**
 * `npm run demo`: Gatehouse on :3000 (a fresh embedded database under data/demo) and the
 * example school system twice, for two schools, so you can click through single sign-on,
 * switching schools and step-up.
 */
const DEMO_EMAIL = 'jo.demo@gatehouse.example';
const DEMO_PASSWORD = 'demonstration password';
const PROVIDER_PORT = Number(process.env.PORT ?? 3000);
const SCHOOLS = [
  { name: 'Hill Primary School', postcode: 'HP1 1AA', port: PROVIDER_PORT + 1, level: 'basic' as const },
  { name: 'Oak Academy', postcode: 'OA2 2BB', port: PROVIDER_PORT + 2, level: 'higher' as const },
];

const dataDir = path.resolve('data/demo');
await fs.rm(dataDir, { recursive: true, force: true });
const config = loadConfig({ ...process.env, PORT: String(PROVIDER_PORT), DATA_DIR: dataDir, DATABASE_URL: '' });
const logger = createLogger(process.env.LOG_LEVEL ?? 'warn');
const gatehouse = await startGatehouse(config, logger);
const { services } = gatehouse;

const memberships: Array<{ schoolId: string; accessLevel: 'basic' | 'higher' }> = [];
const systems: Array<Awaited<ReturnType<typeof startExampleSchoolSystem>>> = [];
for (const school of SCHOOLS) {
  const { id } = await services.schools.add(school);
  memberships.push({ schoolId: id, accessLevel: school.level });
  const base = `http://localhost:${school.port}`;
  const credentials = await services.clients.add({
    name: `${school.name} MIS`,
    schoolIds: [id],
    redirectUris: [`${base}/callback`],
    postLogoutRedirectUris: [`${base}/`],
    initiateLoginUri: `${base}/initiate-login`,
  });
  systems.push(
    await startExampleSchoolSystem({ issuer: config.issuer, ...credentials, title: `${school.name} — Example MIS`, port: school.port }),
  );
}
const account = await services.accounts.addUser({ email: DEMO_EMAIL, name: 'Jo Demo', memberships });
await services.repositories.accounts.setPasswordHash(account.id, await hashPassword(DEMO_PASSWORD));
// The demo user administers the second school, so the console can be tried too.
await services.admin.roles.grant(operatorAuthority('demo'), {
  subject: { email: DEMO_EMAIL },
  role: 'school-admin',
  schoolId: memberships[1]!.schoolId,
});

process.stdout.write(`
Gatehouse demo
  Provider:        ${config.issuer}   (account settings: ${config.issuer}/account)
  Console:         ${config.issuer}/admin   (the demo user administers ${SCHOOLS[1]!.name})
  School system A: ${systems[0]!.url}   (${SCHOOLS[0]!.name}: basic member)
  School system B: ${systems[1]!.url}   (${SCHOOLS[1]!.name}: higher member)
  Sign in as ${DEMO_EMAIL} / "${DEMO_PASSWORD}".
  Then switch schools from the drop-down, and open "Reports" at B to step up (you will be asked
  to set up an authenticator app). Mail goes to ${path.join(dataDir, 'outbox')}. Ctrl+C stops.
`);

const stop = async () => {
  await Promise.all(systems.map((system) => system.close()));
  await gatehouse.close();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
