import type { AdminRole } from '../db/repositories/admin-roles.ts';
import { DomainError } from '../domain/errors.ts';
import type { Message } from '../i18n/words.ts';

/**
 * A refusal with words for the console (console.errors.<key>, in the reader's language); its
 * `message` stays English for the CLI, the API and logs.
 */
export const refusal = (kind: DomainError['kind'], message: string, key: string, values?: Message['values'], field?: string): DomainError =>
  new DomainError(kind, message, field, { key: `console.errors.${key}`, values });

/** Who is acting: the operator at the server's CLI, a person in the console, or an API client. */
export type Actor =
  | { kind: 'operator'; user: string }
  | { kind: 'person'; accountId: string; email: string }
  | { kind: 'client'; clientId: string };

/**
 * What an actor may do, decided once per request from the roles it holds: `helpdesk` reaches
 * every school; `schoolIds` are the schools it administers. The operator at the server is helpdesk.
 */
export type Authority = { actor: Actor; helpdesk: boolean; schoolIds: ReadonlySet<string>; ip?: string | undefined };

export function authorityFrom(actor: Actor, roles: readonly Pick<AdminRole, 'role' | 'schoolId'>[], ip?: string): Authority {
  const helpdesk = actor.kind === 'operator' || roles.some((role) => role.role === 'helpdesk');
  const schoolIds = new Set(roles.filter((role) => role.role === 'school-admin' && role.schoolId).map((role) => role.schoolId!));
  return { actor, helpdesk, schoolIds, ip };
}

/** Holds any role at all: anyone else has no business in the console or the API. */
export const isAdministrator = (authority: Authority): boolean => authority.helpdesk || authority.schoolIds.size > 0;

/** A school's staff, members and audit events: the helpdesk, or that school's administrators. */
export const administersSchool = (authority: Authority, schoolId: string): boolean =>
  authority.helpdesk || authority.schoolIds.has(schoolId);

/** The schools a list is confined to: null means every school (the helpdesk). */
export const schoolScope = (authority: Authority): string[] | null => (authority.helpdesk ? null : [...authority.schoolIds]);

export function requireAdministrator(authority: Authority): void {
  if (!isAdministrator(authority)) throw refusal('forbidden', 'You do not have an administrative role in Gatehouse.', 'noRole');
}

/** Schools, clients, roles, keys and credentials (password, authenticator, lock): the helpdesk only. */
export function requireHelpdesk(authority: Authority): void {
  requireAdministrator(authority);
  if (!authority.helpdesk) throw refusal('forbidden', 'Only the helpdesk can do this.', 'helpdeskOnly');
}

export function requireSchool(authority: Authority, schoolId: string): void {
  requireAdministrator(authority);
  if (!administersSchool(authority, schoolId)) throw refusal('forbidden', 'You do not administer this school.', 'notYourSchool');
}

/** How the audit trail names the actor. */
export function describeActor(actor: Actor): Record<string, string> {
  switch (actor.kind) {
    case 'operator':
      return { type: 'cli', user: actor.user };
    case 'person':
      return { type: 'person', accountId: actor.accountId, email: actor.email };
    case 'client':
      return { type: 'client', clientId: actor.clientId };
  }
}

/** The operator at the server's CLI: the helpdesk's powers, named by the system user. */
export const operatorAuthority = (user: string): Authority => authorityFrom({ kind: 'operator', user }, []);
