import type { RoleHolder } from '../db/repositories/admin-roles.ts';
import type { Repositories } from '../db/repositories/index.ts';
import type { SchoolService } from '../domain/schools.ts';
import { AuditTrailAdministration } from './audit-trail.ts';
import type { AuditService } from '../domain/audit.ts';
import { type Actor, type Authority, authorityFrom, describeActor } from './authority.ts';
import { ClientsAdministration, type ClientsDeps } from './clients.ts';
import { PeopleAdministration, type PeopleDeps } from './people.ts';
import { RolesAdministration } from './roles.ts';

export type { RoleGrant } from './roles.ts';
import { StaffAdministration, type StaffDeps } from './staff.ts';
import { StaffImport } from './staff-import.ts';

export type AdministrationDeps = StaffDeps & PeopleDeps & ClientsDeps & { schools: SchoolService; repositories: Repositories };

/**
 * The one administration service: who may do what lives here (see authority.ts), and every act
 * is audited here. The CLI, the console and the REST API are thin front ends over it.
 */
export class AdministrationService {
  readonly staff: StaffAdministration;
  /** A school's staff from a CSV file: preview, then apply. */
  readonly staffImport: StaffImport;
  readonly people: PeopleAdministration;
  readonly roles: RolesAdministration;
  readonly clients: ClientsAdministration;
  /** Reading the trail (writing it is every area's, through act()). */
  readonly auditTrail: AuditTrailAdministration;
  private readonly repositories: Repositories;
  private readonly auditService: AuditService;

  constructor(deps: AdministrationDeps) {
    this.repositories = deps.repositories;
    this.auditService = deps.audit;
    this.staff = new StaffAdministration(deps);
    this.staffImport = new StaffImport({ ...deps, staff: this.staff });
    this.people = new PeopleAdministration(deps);
    this.roles = new RolesAdministration(deps);
    this.clients = new ClientsAdministration(deps);
    this.auditTrail = new AuditTrailAdministration(deps.repositories);
  }

  /**
   * A read the actor's role refused (another school, a helpdesk page): acts record their own
   * refusals; a refused look is recorded here, so probing shows in the trail too.
   */
  async recordRefusedRead(authority: Authority, what: string, reason: string): Promise<void> {
    await this.auditService.record({
      event: 'admin.read',
      outcome: 'failure',
      reason,
      ip: authority.ip,
      detail: { what, actor: describeActor(authority.actor) },
    });
  }

  /** What the actor may do, from the roles it holds now (read on every request: a revoked role ends at once). */
  async authorityOf(actor: Actor, ip?: string): Promise<Authority> {
    const holder: RoleHolder | null =
      actor.kind === 'person' ? { accountId: actor.accountId } : actor.kind === 'client' ? { clientId: actor.clientId } : null;
    const roles = holder ? await this.repositories.adminRoles.heldBy(holder) : [];
    return authorityFrom(actor, roles, ip);
  }
}
