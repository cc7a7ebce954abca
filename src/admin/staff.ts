import crypto from 'node:crypto';
import type { AccessLevel, School } from '../db/entities/index.ts';
import type { StaffMember } from '../db/repositories/memberships.ts';
import type { Repositories, UnitOfWork } from '../db/repositories/index.ts';
import type { AuditService } from '../domain/audit.ts';
import type { PasswordResetService } from '../domain/password-reset.ts';
import { act } from './acting.ts';
import { type Authority, refusal, requireAdministrator, requireHelpdesk, requireSchool, schoolScope } from './authority.ts';
import { type Page, type PageRequest, pageOf } from './pagination.ts';
import { onceMoreIfRaced } from '../db/retry.ts';

export type StaffDeps = {
  repositories: Repositories;
  transaction: UnitOfWork;
  audit: AuditService;
  passwordReset: PasswordResetService;
};

export type NewMember = { email: string; name?: string | undefined; level: AccessLevel; invite?: boolean | undefined };

/** What adding a member did: `added`, `changed` (another level) or `unchanged` (the same request again). */
export type MemberOutcome = { member: StaffMember; result: 'added' | 'changed' | 'unchanged'; accountCreated: boolean; invited: boolean };

/** Schools and their staff: the helpdesk everywhere, a school administrator at their own school. */
export class StaffAdministration {
  private readonly deps: StaffDeps;

  constructor(deps: StaffDeps) {
    this.deps = deps;
  }

  async listSchools(authority: Authority, request: PageRequest & { search?: string | undefined }): Promise<Page<School>> {
    requireAdministrator(authority);
    return pageOf(
      request,
      ['text', 'uuid'],
      (after, limit) =>
        this.deps.repositories.schools.page({
          within: schoolScope(authority),
          search: request.search,
          after: after as [string, string] | null,
          limit,
        }),
      (school) => [school.name, school.id],
      (school) => school,
    );
  }

  /** Another school is forbidden to a school administrator whether or not it exists. */
  async getSchool(authority: Authority, schoolId: string): Promise<School> {
    requireSchool(authority, schoolId);
    const [school] = await this.deps.repositories.schools.findByIds([schoolId]);
    if (!school) throw refusal('not_found', `No school has the id ${schoolId}.`, 'noSchool');
    return school;
  }

  addSchool(authority: Authority, input: { name: string; postcode: string }): Promise<School> {
    return act(
      this.deps.audit,
      authority,
      'school.add',
      { detail: { name: input.name, postcode: input.postcode } },
      async () => {
        requireHelpdesk(authority);
        return this.deps.repositories.schools.insert({ id: crypto.randomUUID(), name: input.name, postcode: input.postcode });
      },
      (school) => ({ schoolId: school.id }),
    );
  }

  async listMembers(
    authority: Authority,
    schoolId: string,
    request: PageRequest & { search?: string | undefined },
  ): Promise<Page<StaffMember>> {
    await this.getSchool(authority, schoolId);
    return pageOf(
      request,
      ['text', 'uuid'],
      (after, limit) =>
        this.deps.repositories.memberships.pageForSchool(schoolId, {
          search: request.search,
          after: after as [string, string] | null,
          limit,
        }),
      (row) => row.cursor,
      ({ cursor: _cursor, ...member }) => member,
    );
  }

  async getMember(authority: Authority, schoolId: string, accountId: string): Promise<StaffMember> {
    return (await this.memberAt(authority, schoolId, accountId)).member;
  }

  /** The member and the school, read once (a first-time email needs the school's name too). */
  private async memberAt(authority: Authority, schoolId: string, accountId: string): Promise<{ school: School; member: StaffMember }> {
    const school = await this.getSchool(authority, schoolId);
    const member = await this.deps.repositories.memberships.get(accountId, schoolId);
    if (!member) throw refusal('not_found', 'This person is not on the staff of this school.', 'notOnStaff');
    return { school, member };
  }

  /**
   * Creates the account when the address is new (no password: the first-time email sets one) and
   * the membership at this level. The same request twice changes nothing the second time.
   */
  addMember(authority: Authority, schoolId: string, input: NewMember): Promise<MemberOutcome> {
    return act(
      this.deps.audit,
      authority,
      'member.add',
      { schoolId, email: input.email, detail: { level: input.level, invite: Boolean(input.invite) } },
      async () => {
        const school = await this.getSchool(authority, schoolId);
        // Two requests adding one new address at once: the loser of the insert sees the winner's account.
        const outcome = await onceMoreIfRaced(() =>
          this.deps.transaction(async (repositories) => {
            const existing = await repositories.accounts.findByEmail(input.email);
            const account =
              existing ?? (await repositories.accounts.insert({ id: crypto.randomUUID(), email: input.email, name: input.name ?? null }));
            const before = await repositories.memberships.get(account.id, schoolId);
            if (before?.accessLevel !== input.level) await repositories.memberships.upsert(account.id, schoolId, input.level);
            const result: MemberOutcome['result'] = !before ? 'added' : before.accessLevel === input.level ? 'unchanged' : 'changed';
            return { accountId: account.id, result, accountCreated: !existing, hasPassword: account.passwordHash !== null };
          }),
        );
        // The first-time email goes only to someone who has never set a password.
        // Only on the request that added them, so a retried request sends nothing again.
        const invited =
          Boolean(input.invite) &&
          outcome.result === 'added' &&
          !outcome.hasPassword &&
          (await this.sendFirstTimeEmail(authority, input.email, school)) === 'sent';
        const member = (await this.deps.repositories.memberships.get(outcome.accountId, schoolId))!;
        return { member, result: outcome.result, accountCreated: outcome.accountCreated, invited };
      },
      (outcome) => ({ accountId: outcome.member.accountId, result: outcome.result, invited: outcome.invited }),
    );
  }

  changeLevel(authority: Authority, schoolId: string, accountId: string, level: AccessLevel): Promise<StaffMember> {
    return act(this.deps.audit, authority, 'member.change', { schoolId, accountId, detail: { level } }, async () => {
      await this.getMember(authority, schoolId, accountId);
      await this.deps.repositories.memberships.upsert(accountId, schoolId, level);
      return (await this.deps.repositories.memberships.get(accountId, schoolId))!;
    });
  }

  /**
   * A leaver loses this school at once: the membership goes and, in the same transaction, every
   * grant that reached the school through it (so the next refresh is refused, and the next
   * authorization meets the membership check) and any role administering it. Other schools'
   * sessions, tokens and roles are untouched.
   */
  removeMember(authority: Authority, schoolId: string, accountId: string): Promise<{ revokedGrants: number; revokedRole: boolean }> {
    return act(
      this.deps.audit,
      authority,
      'member.remove',
      { schoolId, accountId },
      async () => {
        await this.getSchool(authority, schoolId);
        return this.deps.transaction(async (repositories) => {
          if (!(await repositories.memberships.remove(accountId, schoolId)))
            throw refusal('not_found', 'This person is not on the staff of this school.', 'notOnStaff');
          return {
            revokedGrants: await repositories.oidcPayloads.revokeSchoolGrants(accountId, schoolId),
            revokedRole: await repositories.adminRoles.revoke({ accountId }, 'school-admin', schoolId),
          };
        });
      },
      (outcome) => outcome,
    );
  }

  /**
   * Sends the first-time email again, within the per-address cap, to someone who has not set a
   * password yet. Someone who has uses "Forgotten your password" themselves: an administrator
   * must not be able to send a set-your-password mail to a working account.
   */
  inviteMember(authority: Authority, schoolId: string, accountId: string): Promise<void> {
    return act(this.deps.audit, authority, 'member.invite', { schoolId, accountId }, async () => {
      const { school, member } = await this.memberAt(authority, schoolId, accountId);
      if (member.hasPassword) {
        throw refusal(
          'conflict',
          'They have already set a password. If they have forgotten it, they can use “Forgotten your password” on the login page.',
          'hasPassword',
        );
      }
      const outcome = await this.sendFirstTimeEmail(authority, member.email, school);
      if (outcome === 'throttled')
        throw refusal('rate_limited', 'Several emails have gone to this address recently. Try again later.', 'tooManyEmails');
      if (outcome === 'refused')
        throw refusal('conflict', 'This account is locked: the helpdesk must unlock it before an email can be sent.', 'lockedNoEmail');
    });
  }

  /** Sent in the school's name: staff trained to spot phishing expect their school, not a service they never heard of. */
  private sendFirstTimeEmail(authority: Authority, email: string, school: School) {
    return this.deps.passwordReset.request(email, null, { ip: authority.ip ?? 'admin', schoolName: school.name, schoolId: school.id });
  }
}
