import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { Logger } from 'pino';
import type { Account } from '../db/entities/index.ts';
import type { Repositories, UnitOfWork } from '../db/repositories/index.ts';
import type { Mailer } from '../mail/mailer.ts';
import type { AuditService, RequestContext } from './audit.ts';

/** What Account settings lists: like a device, plus whether the passkey may be synced between devices. */
export type Passkey = { id: string; name: string; createdAt: Date; lastUsedAt: Date | null; synced: boolean };

/**
 * A passkey assertion's outcome. `amr` is what the session passed (see `passkeyAmr` in access.ts).
 * `invalid`: not a passkey of ours, a wrong or reused challenge, a bad signature, no user
 * verification where it is required, a counter that went backwards, a changed backup-eligible flag.
 * `locked`: a passkey of an account that may not sign in.
 */
export type PasskeyCheck = { ok: true; account: Account; passkey: Passkey; amr: string[] } | { ok: false; reason: 'invalid' | 'locked' };

/**
 * Where the options of a ceremony are bound: `register` and `confirm` to the provider session
 * (its uid), `sign_in` and `second_step` to the interaction (its uid). A challenge answers one
 * ceremony of its purpose and binding, once, within a few minutes.
 */
export type Ceremony = { purpose: 'register' | 'confirm' | 'sign_in' | 'second_step'; binding: string };

/**
 * Passkeys (WebAuthn Level 3, @simplewebauthn/server): the relying party id is ISSUER's host and
 * the only origin ISSUER's origin.
 * SKELETON: implemented by the passkeys work (see /work/wt/prompts/13-passkeys-account.md).
 */
export class PasskeyService {
  protected readonly deps: {
    repositories: Repositories;
    transaction: UnitOfWork;
    mailer: Mailer;
    logger: Logger;
    audit: AuditService;
    issuer: string;
    serviceName: string;
  };

  constructor(deps: PasskeyService['deps']) {
    this.deps = deps;
  }

  async list(_accountId: string): Promise<Passkey[]> {
    return [];
  }

  /** Options to create a discoverable credential with user verification for `account`, excluding those it has. */
  async registrationOptions(_account: Account, _sessionUid: string): Promise<PublicKeyCredentialCreationOptionsJSON> {
    throw new Error('not implemented yet');
  }

  /** Verifies and stores a new passkey named `name`; audits and mails. Refusals are validation errors with words. */
  async register(
    _account: Account,
    _sessionUid: string,
    _response: RegistrationResponseJSON,
    _name: string,
    _where: RequestContext,
  ): Promise<Passkey> {
    throw new Error('not implemented yet');
  }

  async remove(_account: Account, _passkeyId: string, _where: RequestContext): Promise<Passkey> {
    throw new Error('not implemented yet');
  }

  /**
   * Options for an assertion. `sign_in`: no account yet (discoverable credential, user
   * verification required). `second_step` and `confirm`: the account's own passkeys only.
   */
  async authenticationOptions(_ceremony: Ceremony, _account?: Account): Promise<PublicKeyCredentialRequestOptionsJSON> {
    throw new Error('not implemented yet');
  }

  /**
   * Verifies an assertion for the ceremony: the challenge is taken (single use), the credential
   * must be registered (and the account's own when `account` is given), the signature, origin, rp
   * id, counter and backup-eligible flag must hold; the counter, backup state and last use are
   * stored. Audited, success and failure. `afterPassword` decides `amr` (see passkeyAmr).
   */
  async verify(
    _ceremony: Ceremony,
    _response: AuthenticationResponseJSON,
    _where: RequestContext,
    _options: { account?: Account; afterPassword: boolean },
  ): Promise<PasskeyCheck> {
    throw new Error('not implemented yet');
  }
}
