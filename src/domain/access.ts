import type { AccessLevel, School } from '../db/entities/index.ts';
import type { Repositories } from '../db/repositories/index.ts';
import type { SchoolMembership } from '../db/repositories/memberships.ts';

export const ACR_BASIC = 'urn:gatehouse:acr:basic';
export const ACR_HIGHER = 'urn:gatehouse:acr:higher';

/** Rule 4: higher access only when the membership is higher and this session passed a code. */
export function effectiveAccessLevel(level: AccessLevel, amr: readonly string[] | undefined): AccessLevel {
  return level === 'higher' && (amr ?? []).includes('otp') ? 'higher' : 'basic';
}

export type SchoolClaims = {
  school: { id: string; name: string; postcode: string } | null;
  access_level: AccessLevel;
  schools: Array<{ id: string; name: string; postcode: string; login_uri: string | null }>;
};

const publicSchool = (school: School) => ({ id: school.id, name: school.name, postcode: school.postcode });

/** The rules of access (DESIGN.md) in one place: who may sign in where, and at which level. */
export class AccessService {
  private readonly repositories: Repositories;

  constructor(repositories: Repositories) {
    this.repositories = repositories;
  }

  /** Rule 2: the memberships that let this account sign in through this client. */
  membershipsForClient(accountId: string, clientId: string): Promise<SchoolMembership[]> {
    return this.repositories.memberships.listAtClientSchools(accountId, clientId);
  }

  async canSignIn(accountId: string, clientId: string): Promise<boolean> {
    return (await this.membershipsForClient(accountId, clientId)).length > 0;
  }

  /** How a client is named on hosted pages: its school, or its schools joined. */
  async clientSchoolsName(clientId: string): Promise<string | null> {
    const schools = await this.repositories.clientSchools.schoolsOf(clientId);
    return schools.length === 0 ? null : schools.map((school) => school.name).join(', ');
  }

  async schoolClaims(accountId: string, clientId: string, amr: readonly string[] | undefined): Promise<SchoolClaims> {
    const [atClient, all] = await Promise.all([
      this.membershipsForClient(accountId, clientId),
      this.repositories.memberships.listForAccount(accountId),
    ]);
    const current = atClient[0];
    const loginUris = await this.repositories.clientLoginUris.bySchool(all.map(({ school }) => school.id));
    return {
      school: current ? publicSchool(current.school) : null,
      access_level: current ? effectiveAccessLevel(current.accessLevel, amr) : 'basic',
      schools: all.map(({ school }) => ({ ...publicSchool(school), login_uri: loginUris.get(school.id) ?? null })),
    };
  }
}
