import type { AccessLevel, Account, School } from '../db/entities/index.ts';
import type { Repositories } from '../db/repositories/index.ts';
import type { SchoolMembership } from '../db/repositories/memberships.ts';
import { memoised } from './request-memo.ts';
import { BACKCHANNEL_LOGOUT } from './outbound.ts';

export const ACR_BASIC = 'urn:gatehouse:acr:basic';
export const ACR_HIGHER = 'urn:gatehouse:acr:higher';

/**
 * The RFC 8176 methods that are a second factor: a one-time code (`otp`: an authenticator app's
 * code or a backup code) or proof of possession of a passkey (`hwk` device-bound, `swk` synced).
 */
const SECOND_FACTOR_METHODS = ['otp', 'hwk', 'swk'];

/** Whether a sign-in proved both factors in one step: a passkey with user verification, no password. */
export function bothFactorsAtOnce(amr: readonly string[] | undefined): boolean {
  const methods = amr ?? [];
  return methods.includes('user') && !methods.includes('pwd') && passedSecondFactor(methods);
}

/** Whether a session passed a second factor: a code, a backup code or a passkey. */
export function passedSecondFactor(amr: readonly string[] | undefined): boolean {
  // Stryker disable next-line ArrayDeclaration: any fallback without a second factor decides the same.
  return (amr ?? []).some((method) => SECOND_FACTOR_METHODS.includes(method));
}

/** An account that may sign in and hold sessions: it exists and is not locked. */
export function isUsable(account: Account | null | undefined): account is Account & { status: 'active' } {
  return account?.status === 'active';
}

/**
 * The first whole second a session may have signed in at (oidc-provider's loginTs counts
 * seconds): the one after the account's sessions were ended, so a session from that same second
 * is refused too. 0 when they never were.
 */
export function earliestLoginTs(account: Pick<Account, 'sessionsNotBefore'>): number {
  return account.sessionsNotBefore ? Math.floor(account.sessionsNotBefore.getTime() / 1000) + 1 : 0;
}

/**
 * Whether a session (signed in at `loginTs`, in seconds) may still act for the account: the
 * account is usable and the session was not signed in before its sessions were ended (password
 * reset, `user lock`, `user mfa-reset`). Deleting the rows is not enough on its own: a request in
 * flight saves the session it loaded and brings the row back.
 */
export function holdsSession(account: Account | null | undefined, loginTs: number | undefined): account is Account & { status: 'active' } {
  return isUsable(account) && (loginTs ?? 0) >= earliestLoginTs(account);
}

/**
 * The loginTs of a password sign-in that began at `startedAtMs`: when the password was checked,
 * but never inside the second the sessions were ended, so a sign-in just after a reset holds.
 */
export function loginTsFor(account: Pick<Account, 'sessionsNotBefore'>, startedAtMs: number): number {
  return Math.max(Math.floor(startedAtMs / 1000), earliestLoginTs(account));
}

/**
 * Whether a device cookie issued at `issuedAt` (seconds) still gives its browser a guessing
 * budget of its own: only if issued since the account's sessions were last ended, by the same
 * rule as sessions, so a password reset, `user lock` or `user mfa-reset` ends a thief's too.
 */
export function trustedSince(account: Pick<Account, 'sessionsNotBefore'>, issuedAt: number): boolean {
  return issuedAt >= earliestLoginTs(account);
}

/**
 * Ends every session and token of the account, for good (see `holdsSession`), and queues a
 * back-channel logout to each school system those sessions signed in to, as a logout at
 * /session/end would: a locked or reset account is signed out of them too, not only refused at
 * their next refresh.
 */
export async function endSessions(
  repositories: Pick<Repositories, 'oidcPayloads' | 'accounts' | 'outboundDeliveries' | 'audit'>,
  accountId: string,
): Promise<void> {
  for (const owed of await repositories.oidcPayloads.revokeAccount(accountId)) {
    const id = await repositories.outboundDeliveries.enqueue({
      kind: BACKCHANNEL_LOGOUT,
      clientId: owed.clientId,
      accountId,
      destination: owed.destination,
      payload: { sub: accountId, sid: owed.sid },
    });
    await repositories.audit.insert({
      event: `${BACKCHANNEL_LOGOUT}.queued`,
      outcome: 'success',
      accountId,
      clientId: owed.clientId,
      detail: { delivery: id, destination: owed.destination },
    });
  }
  // Last in the transaction, so no session signed in before the commit can be later than it.
  await repositories.accounts.setSessionsNotBefore(accountId);
}

export const AMR_PASSWORD = ['pwd'];
/** A password, then an authenticator app's code or a backup code (both one-time codes). */
export const AMR_PASSWORD_AND_CODE = ['pwd', 'otp', 'mfa'];

/**
 * What a passkey assertion proved (RFC 8176): `hwk` for a device-bound key, `swk` for one that may
 * be synced between devices (backup eligible); `user` when the authenticator verified the person
 * (PIN or biometric); `pwd` when a password came first. A passkey with user verification is two
 * factors on its own; after a password it is the second one: either way `mfa`.
 */
export function passkeyAmr(passkey: { backupEligible: boolean; userVerified: boolean; afterPassword: boolean }): string[] {
  return [
    ...(passkey.afterPassword ? ['pwd'] : []),
    passkey.backupEligible ? 'swk' : 'hwk',
    ...(passkey.userVerified ? ['user'] : []),
    ...(passkey.afterPassword || passkey.userVerified ? ['mfa'] : []),
  ];
}

/** Rule 4: higher access only when the membership is higher and this session passed a code. */
export function effectiveAccessLevel(level: AccessLevel, amr: readonly string[] | undefined): AccessLevel {
  return level === 'higher' && passedSecondFactor(amr) ? 'higher' : 'basic';
}

export type SchoolClaims = {
  school: { id: string; name: string; postcode: string } | null;
  access_level: AccessLevel;
  schools: Array<{ id: string; name: string; postcode: string; login_uri: string | null }>;
} & FlatSchoolClaims;

/**
 * The same facts as plain strings, for relying parties that cannot read an array of objects
 * (Apache mod_auth_openidc passes `schools` on as an empty value): absent when there is no school.
 */
export type FlatSchoolClaims = { school_id?: string; school_name?: string; school_ids: string[] };

const publicSchool = (school: School) => ({ id: school.id, name: school.name, postcode: school.postcode });

/** The rules of access (DESIGN.md) in one place: who may sign in where, and at which level. */
export class AccessService {
  private readonly repositories: Repositories;
  private readonly schoolsOfClient: (clientId: string) => Promise<School[]>;

  /** `schoolsOfClient`: the cached lookup in the server (src/db/caches.ts). */
  constructor(repositories: Repositories, schoolsOfClient?: (clientId: string) => Promise<School[]>) {
    this.repositories = repositories;
    this.schoolsOfClient = schoolsOfClient ?? ((clientId) => repositories.clientSchools.schoolsOf(clientId));
  }

  /** A session signed in at `loginTs` may still act: see `holdsSession`. */
  async canHoldSession(accountId: string, loginTs: number | undefined): Promise<boolean> {
    return holdsSession(await this.account(accountId), loginTs);
  }

  /**
   * Rule 5: a session that passed only the password is not enough once the account has a second
   * factor (an authenticator device or a passkey).
   */
  async needsCode(accountId: string, amr: readonly string[] | undefined): Promise<boolean> {
    if (passedSecondFactor(amr)) return false;
    return (await this.secondFactorCount(accountId)) > 0;
  }

  /**
   * A device can be added inside a sign-in only while the account has no second factor: once it
   * has one, that is required first, so a password alone can never add a device.
   */
  async mayEnrolDuringSignIn(accountId: string): Promise<boolean> {
    return (await this.secondFactorCount(accountId)) === 0;
  }

  /** Rule 4's nudge: a higher member at this client's school who has no device yet. */
  async shouldOfferEnrolment(accountId: string, clientId: string): Promise<boolean> {
    const memberships = await this.membershipsForClient(accountId, clientId);
    if (!memberships.some((membership) => membership.accessLevel === 'higher')) return false;
    return (await this.secondFactorCount(accountId)) === 0;
  }

  /** Rule 2: the memberships that let this account sign in through this client. */
  membershipsForClient(accountId: string, clientId: string): Promise<SchoolMembership[]> {
    return memoised(`memberships:${accountId}:${clientId}`, () => this.repositories.memberships.listAtClientSchools(accountId, clientId));
  }

  /** The account, read once per provider request (request-memo.ts). */
  account(accountId: string): Promise<Account | null> {
    return memoised(`account:${accountId}`, () => this.repositories.accounts.findById(accountId));
  }

  /** Authenticator devices and passkeys: the credentials that can be a second factor (backup codes only stand in for them). */
  secondFactorCount(accountId: string): Promise<number> {
    return memoised(`second-factors:${accountId}`, () => this.repositories.authenticators.countSecondFactors(accountId));
  }

  async canSignIn(accountId: string, clientId: string): Promise<boolean> {
    return (await this.membershipsForClient(accountId, clientId)).length > 0;
  }

  /** The school a client is named after on hosted pages, when it serves exactly one. */
  async clientSchoolsName(clientId: string): Promise<string | null> {
    const schools = await this.schoolsOfClient(clientId);
    return schools.length === 1 ? schools[0]!.name : null;
  }

  /**
   * The school of a sign-in: the one chosen for this grant (page or `school` hint) while the
   * membership still holds, otherwise the only (or first, by name) school the client serves.
   */
  async currentSchool(accountId: string, clientId: string, grantId: string | undefined): Promise<SchoolMembership | undefined> {
    const atClient = await this.membershipsForClient(accountId, clientId);
    const chosen = grantId ? await this.repositories.grantSchools.get(grantId) : null;
    return atClient.find((membership) => membership.school.id === chosen) ?? atClient[0];
  }

  /** A client serving several of the person's schools asks which one, unless already chosen. */
  async needsSchoolChoice(accountId: string, clientId: string, grantId: string | undefined): Promise<boolean> {
    const atClient = await this.membershipsForClient(accountId, clientId);
    if (atClient.length < 2) return false;
    const chosen = grantId ? await this.repositories.grantSchools.get(grantId) : null;
    return !atClient.some((membership) => membership.school.id === chosen);
  }

  /** Records the choice only for a school the account may sign in to through this client. */
  async chooseSchool(accountId: string, clientId: string, grantId: string, schoolId: string): Promise<boolean> {
    const atClient = await this.membershipsForClient(accountId, clientId);
    if (!atClient.some((membership) => membership.school.id === schoolId)) return false;
    await this.repositories.grantSchools.set(grantId, schoolId);
    return true;
  }

  async schoolClaims(accountId: string, clientId: string, amr: readonly string[] | undefined, grantId?: string): Promise<SchoolClaims> {
    const [current, schools] = await Promise.all([this.currentSchool(accountId, clientId, grantId), this.switchableSchools(accountId)]);
    return {
      school: current ? publicSchool(current.school) : null,
      access_level: current ? effectiveAccessLevel(current.accessLevel, amr) : 'basic',
      schools,
      ...(current ? { school_id: current.school.id, school_name: current.school.name } : {}),
      school_ids: schools.map(({ id }) => id),
    };
  }

  /** Every school of the account, with where to sign in to it (OIDC third-party initiated login). */
  async switchableSchools(accountId: string): Promise<SchoolClaims['schools']> {
    const all = await this.repositories.memberships.listForAccount(accountId);
    const loginUris = await this.repositories.clientLoginUris.bySchool(all.map(({ school }) => school.id));
    return all.map(({ school }) => ({ ...publicSchool(school), login_uri: loginUris.get(school.id) ?? null }));
  }
}
