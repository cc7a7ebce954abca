import type { School } from '../../db/entities/index.ts';
import type { StoredAuditEvent } from '../../db/repositories/audit.ts';
import type { StaffMember } from '../../db/repositories/memberships.ts';
import type { PersonView } from '../people.ts';
import type { Page } from '../pagination.ts';
import type { MemberOutcome } from '../staff.ts';

/** The service's objects as /api/v1 shows them (snake_case, ISO times), one function each. */
export const present = {
  school: (school: School) => ({ id: school.id, name: school.name, postcode: school.postcode, created_at: school.createdAt.toISOString() }),
  member: (member: StaffMember) => ({
    account_id: member.accountId,
    email: member.email,
    name: member.name,
    level: member.accessLevel,
    status: member.status,
    has_password: member.hasPassword,
    added_at: member.addedAt.toISOString(),
  }),
  memberAdded: (outcome: MemberOutcome) => ({
    ...present.member(outcome.member),
    result: outcome.result,
    account_created: outcome.accountCreated,
    invited: outcome.invited,
  }),
  person: (person: PersonView) => ({
    id: person.id,
    email: person.email,
    name: person.name,
    status: person.status,
    has_password: person.hasPassword,
    devices: person.devices,
    passkeys: person.passkeys,
    backup_codes_left: person.backupCodesLeft,
    last_sign_in: person.lastSignIn?.toISOString() ?? null,
    memberships: person.memberships.map((m) => ({ school_id: m.schoolId, school_name: m.schoolName, level: m.level })),
  }),
  event: (event: StoredAuditEvent & { id: string }) => ({
    id: event.id,
    at: event.at.toISOString(),
    event: event.event,
    outcome: event.outcome,
    reason: event.reason ?? null,
    account_id: event.accountId ?? null,
    email: event.email ?? null,
    school_id: event.schoolId ?? null,
    client_id: event.clientId ?? null,
    ip: event.ip ?? null,
    detail: event.detail ?? null,
  }),
  page: <T, U>(page: Page<T>, each: (item: T) => U) => ({ items: page.items.map(each), next_cursor: page.nextCursor }),
};
