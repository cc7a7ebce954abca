import { operatorAuthority } from '../src/admin/authority.ts';
import { hashPassword } from '../src/auth/passwords.ts';
import type { Services } from '../src/services.ts';

/**
 * What `npm run demo` sets up, kept apart from starting things so a test can run it twice.
 * Seeding is idempotent: a second start finds the schools, school systems and people the first
 * one made (and whatever was done with them since) and adds only what is missing.
 */

export const DEMO_EMAIL = 'jo.demo@gatehouse.example';
export const DEMO_PASSWORD = 'demonstration password';
/** No password: the first-time journey (forgotten password → link in the mail → choose one) starts here. */
export const FIRST_TIME_EMAIL = 'sam.demo@gatehouse.example';

export type DemoSchool = {
  name: string;
  postcode: string;
  /** The environment variable naming its school system's port, and the port without it. */
  portVariable: string;
  defaultPort: number;
  /** Jo's access level there. */
  level: 'basic' | 'higher';
  /** What its school system asks Gatehouse's pages to be in (`ui_locales`). */
  uiLocales?: string;
};

/** A, B and C: an English primary, an academy where Jo has higher access, and a Welsh-medium school. */
export const DEMO_SCHOOLS: readonly DemoSchool[] = [
  { name: 'Hill Primary School', postcode: 'HP1 1AA', portVariable: 'DEMO_PORT_A', defaultPort: 4001, level: 'basic' },
  { name: 'Oak Academy', postcode: 'OA2 2BB', portVariable: 'DEMO_PORT_B', defaultPort: 4002, level: 'higher' },
  { name: 'Ysgol y Bryn', postcode: 'LL57 2AA', portVariable: 'DEMO_PORT_C', defaultPort: 4003, level: 'basic', uiLocales: 'cy' },
];

/**
 * The provider on PORT (3000), each school system on its own variable (4001, 4002, 4003): never
 * PORT+1, which a second Gatehouse or anything else on the next port would collide with.
 */
export function demoPorts(env: NodeJS.ProcessEnv): { provider: number; schools: number[] } {
  const port = (name: string, fallback: number) => {
    const value = env[name]?.trim();
    if (!value) return fallback;
    const number = Number(value);
    if (!Number.isInteger(number) || number < 1 || number > 65535)
      throw new Error(`${name} must be a port number (1–65535), not "${value}".`);
    return number;
  };
  return { provider: port('PORT', 3000), schools: DEMO_SCHOOLS.map((school) => port(school.portVariable, school.defaultPort)) };
}

export type SeededSchool = DemoSchool & { id: string; url: string; clientId: string; clientSecret: string };

/**
 * The schools, one school system (client) for each at `urls[i]`, Jo (password, member of all
 * three, administers Oak Academy in the console) and Sam (no password yet, member of Hill Primary
 * School and Ysgol y Bryn). A school system already registered for its address keeps its client id
 * and gets a new secret (secrets are stored sealed: the old one cannot be read back).
 */
export async function seedDemo(services: Services, urls: readonly string[]): Promise<SeededSchool[]> {
  const existingSchools = await services.schools.list();
  const seeded: SeededSchool[] = [];
  for (const [index, school] of DEMO_SCHOOLS.entries()) {
    const url = urls[index]!;
    const { id } =
      existingSchools.find((found) => found.name === school.name && found.postcode === school.postcode) ??
      (await services.schools.add({ name: school.name, postcode: school.postcode }));
    const name = `${school.name} MIS`;
    const registered = (await services.repositories.clients.page({ search: name, after: null, limit: 100 })).find(
      (client) => client.redirectUris.includes(`${url}/callback`) && client.schools.some((served) => served.id === id),
    );
    const credentials = registered
      ? { clientId: registered.clientId, ...(await services.clients.newSecret(registered.clientId)) }
      : await services.clients.add({
          name,
          schoolIds: [id],
          redirectUris: [`${url}/callback`],
          postLogoutRedirectUris: [`${url}/`],
          initiateLoginUri: `${url}/initiate-login`,
        });
    seeded.push({ ...school, id, url, ...credentials });
  }

  const jo = await services.accounts.addUser({
    email: DEMO_EMAIL,
    name: 'Jo Demo',
    memberships: seeded.map((school) => ({ schoolId: school.id, accessLevel: school.level })),
  });
  // Only the first time: a password Jo changed in the demo is kept.
  if (!jo.passwordHash) await services.repositories.accounts.setPasswordHash(jo.id, await hashPassword(DEMO_PASSWORD));
  await services.accounts.addUser({
    email: FIRST_TIME_EMAIL,
    name: 'Sam Demo',
    memberships: [seeded[0]!, seeded[2]!].map((school) => ({ schoolId: school.id, accessLevel: 'basic' as const })),
  });
  // Jo administers the second school, so the console can be tried too (granted once: it is audited).
  const oak = seeded[1]!;
  if (!(await services.repositories.adminRoles.find({ accountId: jo.id }, 'school-admin', oak.id))) {
    await services.admin.roles.grant(operatorAuthority('demo'), { subject: { email: DEMO_EMAIL }, role: 'school-admin', schoolId: oak.id });
  }
  return seeded;
}
