import type { AdminRole, AdminRoleName, RoleHolder } from '../db/repositories/admin-roles.ts';
import type { Repositories } from '../db/repositories/index.ts';
import type { AuditService } from '../domain/audit.ts';
import { ADMIN_API_SCOPE } from '../domain/clients.ts';
import { notFound, validationError } from '../domain/errors.ts';
import type { SchoolService } from '../domain/schools.ts';
import { act } from './acting.ts';
import { type Authority, refusal, requireHelpdesk } from './authority.ts';
import { type Page, type PageRequest, pageOf } from './pagination.ts';

export type RolesDeps = { repositories: Repositories; audit: AuditService; schools: SchoolService };

/** Who the role is for, as a front end names them: a person by email, or a client by id. */
export type RoleSubject = { email: string } | { clientId: string };

export type RoleGrant = { subject: RoleSubject; role: AdminRoleName; schoolId?: string | undefined };

/** Roles are the helpdesk's to see, give and take. */
export class RolesAdministration {
  private readonly deps: RolesDeps;

  constructor(deps: RolesDeps) {
    this.deps = deps;
  }

  grant(authority: Authority, grant: RoleGrant): Promise<{ id: string; created: boolean }> {
    return this.change(authority, 'role.grant', grant, async (holder, schoolId) =>
      this.deps.repositories.adminRoles.grant(holder, grant.role, schoolId),
    );
  }

  revoke(authority: Authority, grant: RoleGrant): Promise<{ id: string }> {
    return this.change(authority, 'role.revoke', grant, async (holder, schoolId) => {
      const held = await this.deps.repositories.adminRoles.find(holder, grant.role, schoolId);
      if (!held || !(await this.deps.repositories.adminRoles.revoke(holder, grant.role, schoolId))) {
        throw refusal('not_found', 'That role is not held, so there is nothing to revoke.', 'roleNotHeld');
      }
      return { id: held.id };
    });
  }

  /** The console revokes the grant a row of its list shows. */
  async revokeById(authority: Authority, id: string): Promise<{ id: string }> {
    requireHelpdesk(authority);
    const held = await this.deps.repositories.adminRoles.findById(id);
    if (!held) throw refusal('not_found', 'That role is not held any more.', 'roleNotHeld');
    const subject: RoleSubject = held.clientId ? { clientId: held.clientId } : { email: held.email ?? '' };
    return this.revoke(authority, { subject, role: held.role, schoolId: held.schoolId ?? undefined });
  }

  /** The school-admin grant of a person at a school, if held (for the console's member page). */
  async schoolAdminGrant(authority: Authority, accountId: string, schoolId: string): Promise<AdminRole | null> {
    requireHelpdesk(authority);
    return this.deps.repositories.adminRoles.find({ accountId }, 'school-admin', schoolId);
  }

  /** Who holds which role: the helpdesk's to see, as it is theirs to give (a school administrator touches no roles). */
  async list(authority: Authority, request: PageRequest): Promise<Page<AdminRole>> {
    requireHelpdesk(authority);
    return pageOf(
      request,
      ['uuid'],
      (after, limit) => this.deps.repositories.adminRoles.page({ after: after as [string] | null, limit }),
      (role) => [role.id],
      (role) => role,
    );
  }

  private change<T>(
    authority: Authority,
    event: string,
    grant: RoleGrant,
    work: (holder: RoleHolder, schoolId: string | null) => Promise<T>,
  ): Promise<T> {
    const target = {
      schoolId: grant.schoolId,
      email: 'email' in grant.subject ? grant.subject.email : undefined,
      detail: { role: grant.role, ...('clientId' in grant.subject ? { clientId: grant.subject.clientId } : {}) },
    };
    return act(this.deps.audit, authority, event, target, async () => {
      requireHelpdesk(authority);
      if (grant.role === 'school-admin' && !grant.schoolId)
        throw validationError('A school-admin role needs the school it is for.', 'school');
      if (grant.role === 'helpdesk' && grant.schoolId)
        throw validationError('The helpdesk role covers every school: give no school.', 'school');
      if (grant.schoolId) await this.deps.schools.requireAll([grant.schoolId]);
      return work(await this.holderOf(grant.subject), grant.schoolId ?? null);
    });
  }

  private async holderOf(subject: RoleSubject): Promise<RoleHolder> {
    if ('clientId' in subject) {
      const found = await this.deps.repositories.oidcPayloads.find('Client', subject.clientId);
      if (!found) throw notFound(`No client has the id ${subject.clientId}.`);
      // Only a client made for the API is ever issued its scope: a role on any other would do nothing.
      if (
        !String(found.payload.scope ?? '')
          .split(' ')
          .includes(ADMIN_API_SCOPE)
      ) {
        throw validationError(
          `Client ${subject.clientId} is not a client of the management API: add one with client add --grant-type client_credentials --api-role.`,
          'client',
        );
      }
      return { clientId: subject.clientId };
    }
    const account = await this.deps.repositories.accounts.findByEmail(subject.email);
    if (!account) throw notFound(`No account has the email address ${subject.email}.`);
    return { accountId: account.id };
  }
}
