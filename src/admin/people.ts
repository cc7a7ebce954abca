import type { AccessLevel, Account } from '../db/entities/index.ts';
import type { Repositories } from '../db/repositories/index.ts';
import type { AccountService, MembershipGrant } from '../domain/accounts.ts';
import type { AuditService } from '../domain/audit.ts';
import type { AuthenticatorService } from '../domain/authenticators.ts';
import { notFound } from '../domain/errors.ts';
import { act } from './acting.ts';
import { type Authority, refusal, requireAdministrator, requireHelpdesk, requireSchool, schoolScope } from './authority.ts';

export type PeopleDeps = {
  repositories: Repositories;
  audit: AuditService;
  accounts: AccountService;
  authenticators: AuthenticatorService;
};

/** A person as an administrator sees them: only the memberships at schools they administer. */
export type PersonView = {
  id: string;
  email: string;
  name: string | null;
  status: Account['status'];
  hasPassword: boolean;
  devices: number;
  passkeys: number;
  backupCodesLeft: number;
  lastSignIn: Date | null;
  memberships: Array<{ schoolId: string; schoolName: string; level: AccessLevel }>;
};

/** Accounts: finding and reading them (within an administrator's schools), and the helpdesk's credential actions. */
export class PeopleAdministration {
  private readonly deps: PeopleDeps;

  constructor(deps: PeopleDeps) {
    this.deps = deps;
  }

  /** Someone outside every school the administrator has is not found, as if they did not exist. */
  async get(authority: Authority, accountId: string): Promise<PersonView> {
    requireAdministrator(authority);
    const account = await this.deps.repositories.accounts.findById(accountId);
    const view = account ? await this.view(authority, account) : null;
    if (!view) throw refusal('not_found', 'No such person.', 'noPerson');
    return view;
  }

  async findByEmail(authority: Authority, email: string): Promise<PersonView | null> {
    requireAdministrator(authority);
    const account = await this.deps.repositories.accounts.findByEmail(email);
    return account ? this.view(authority, account) : null;
  }

  /** The CLI's `user add`: the account when new, and memberships at schools the actor administers. */
  addUser(authority: Authority, input: { email: string; name?: string | undefined; memberships: MembershipGrant[] }): Promise<Account> {
    return act(
      this.deps.audit,
      authority,
      'user.add',
      { email: input.email, detail: { memberships: input.memberships } },
      async () => {
        // With no membership asked for, the loop checks nothing: still only an administrator may add an account.
        requireAdministrator(authority);
        for (const membership of input.memberships) requireSchool(authority, membership.schoolId);
        return this.deps.accounts.addUser(input);
      },
      (account) => ({ accountId: account.id }),
    );
  }

  lock(authority: Authority, accountId: string, reason?: string) {
    return this.credentialAction(authority, accountId, 'user.lock', reason, (account) =>
      this.deps.accounts.setStatus(account.email, 'locked'),
    );
  }

  unlock(authority: Authority, accountId: string, reason?: string) {
    return this.credentialAction(authority, accountId, 'user.unlock', reason, (account) =>
      this.deps.accounts.setStatus(account.email, 'active'),
    );
  }

  /** Removes every authenticator device and passkey and voids the backup codes; the person is mailed, with the reason. */
  resetAuthenticators(authority: Authority, accountId: string, reason?: string) {
    return this.credentialAction(
      authority,
      accountId,
      'user.mfa-reset',
      reason,
      async (account) => {
        const reset = await this.deps.authenticators.resetAll(account, reason);
        return { ...account, removed: reset.devices, passkeysRemoved: reset.passkeys, backupCodesVoided: reset.backupCodes };
      },
      // What went, in the audit trail too: the answer to "why can this person no longer sign in with their key?".
      (done) => ({ devices: done.removed, passkeys: done.passkeysRemoved, backupCodesVoided: done.backupCodesVoided }),
    );
  }

  /** The same actions by email, as the CLI names people. */
  async idOf(email: string): Promise<string> {
    const account = await this.deps.repositories.accounts.findByEmail(email);
    if (!account) throw notFound(`No account has the email address ${email}.`);
    return account.id;
  }

  private credentialAction<T>(
    authority: Authority,
    accountId: string,
    event: string,
    reason: string | undefined,
    work: (account: Account) => Promise<T>,
    outcomeDetail?: (result: T) => Record<string, unknown>,
  ): Promise<T> {
    const target = { accountId, detail: reason ? { reason } : undefined };
    const done = async () => {
      requireHelpdesk(authority);
      const account = await this.deps.repositories.accounts.findById(accountId);
      if (!account) throw refusal('not_found', 'No such person.', 'noPerson');
      return work(account);
    };
    return act(this.deps.audit, authority, event, target, done, outcomeDetail);
  }

  /** Null when the person is at none of the administrator's schools. */
  private async view(authority: Authority, account: Account): Promise<PersonView | null> {
    const all = await this.deps.repositories.memberships.listForAccount(account.id);
    const visible = authority.helpdesk ? all : all.filter(({ school }) => authority.schoolIds.has(school.id));
    if (visible.length === 0 && !authority.helpdesk) return null;
    const [devices, passkeys, backupCodes, lastSignIn] = await Promise.all([
      this.deps.repositories.authenticators.countForAccount(account.id),
      this.deps.repositories.passkeys.countForAccount(account.id),
      this.deps.repositories.backupCodes.summary(account.id),
      // A school administrator learns nothing of the person's other schools, their sign-ins included.
      this.deps.repositories.audit.lastSignIn(account.id, schoolScope(authority)),
    ]);
    return {
      id: account.id,
      email: account.email,
      name: account.name,
      status: account.status,
      hasPassword: account.passwordHash !== null,
      devices,
      passkeys,
      backupCodesLeft: backupCodes.left,
      lastSignIn,
      memberships: visible.map(({ school, accessLevel }) => ({ schoolId: school.id, schoolName: school.name, level: accessLevel })),
    };
  }
}
