import type { EntityManager } from 'typeorm';
import { AccountsRepository } from './accounts.ts';
import { AdminRolesRepository } from './admin-roles.ts';
import { AuditRepository } from './audit.ts';
import { AuthenticatorsRepository } from './authenticators.ts';
import { BackupCodesRepository } from './backup-codes.ts';
import { ChangesRepository } from './changes.ts';
import { ClientLoginUrisRepository, ClientSchoolsRepository } from './client-schools.ts';
import { ClientsRepository } from './clients.ts';
import { OidcPayloadsRepository } from './oidc-payloads.ts';
import { GrantSchoolsRepository } from './grant-schools.ts';
import { MembershipsRepository } from './memberships.ts';
import { OutboundDeliveriesRepository } from './outbound-deliveries.ts';
import { PasskeysRepository } from './passkeys.ts';
import { ResetTokensRepository } from './reset-tokens.ts';
import { SchoolsRepository } from './schools.ts';
import { SecretsRepository } from './secrets.ts';
import { SessionProofsRepository } from './session-proofs.ts';
import { StaffImportRepository } from './staff-import.ts';
import { ThrottleRepository } from './throttle.ts';
import { WebAuthnChallengesRepository } from './webauthn-challenges.ts';

export type Repositories = ReturnType<typeof repositoriesFor>;

/**
 * Every repository bound to one manager: the data source, or a transaction's manager.
 * `afterCommit` runs work once what was written is visible: at once outside a transaction, at
 * commit inside one (and never if it rolls back).
 */
export function repositoriesFor(manager: EntityManager, afterCommit: (work: () => void) => void = (work) => work()) {
  return {
    afterCommit,
    accounts: new AccountsRepository(manager),
    adminRoles: new AdminRolesRepository(manager),
    audit: new AuditRepository(manager),
    authenticators: new AuthenticatorsRepository(manager),
    backupCodes: new BackupCodesRepository(manager),
    changes: new ChangesRepository(manager),
    clientSchools: new ClientSchoolsRepository(manager),
    clients: new ClientsRepository(manager),
    clientLoginUris: new ClientLoginUrisRepository(manager),
    oidcPayloads: new OidcPayloadsRepository(manager),
    grantSchools: new GrantSchoolsRepository(manager),
    memberships: new MembershipsRepository(manager),
    outboundDeliveries: new OutboundDeliveriesRepository(manager),
    passkeys: new PasskeysRepository(manager),
    resetTokens: new ResetTokensRepository(manager),
    schools: new SchoolsRepository(manager),
    secrets: new SecretsRepository(manager),
    sessionProofs: new SessionProofsRepository(manager),
    staffImport: new StaffImportRepository(manager),
    throttle: new ThrottleRepository(manager),
    webauthnChallenges: new WebAuthnChallengesRepository(manager),
  };
}

export type UnitOfWork = <T>(work: (repositories: Repositories) => Promise<T>) => Promise<T>;

/** One transaction per unit of work; what it deferred with `afterCommit` runs once it has committed. */
export function unitOfWork(dataSource: { transaction<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> }): UnitOfWork {
  return async (work) => {
    const committed: Array<() => void> = [];
    const result = await dataSource.transaction((manager) => work(repositoriesFor(manager, (then) => committed.push(then))));
    for (const then of committed) then();
    return result;
  };
}
