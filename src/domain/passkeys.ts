import crypto from 'node:crypto';
import {
  type AuthenticationResponseJSON,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import type { Logger } from 'pino';
import type { Account } from '../db/entities/index.ts';
import type { PasskeyRow } from '../db/repositories/passkeys.ts';
import type { Repositories, UnitOfWork } from '../db/repositories/index.ts';
import { PasskeyThrottle, passkeyWindowKey } from '../auth/throttle.ts';
import { type Mailer, sendAccountNotice } from '../mail/mailer.ts';
import { isUsable, passkeyAmr } from './access.ts';
import { voidBackupCodesWithoutSecondFactor } from './backup-codes.ts';
import { CREDENTIAL_NAME_MAX, credentialNameRefusal } from './credential-names.ts';
import type { AuditService, RequestContext } from './audit.ts';
import { type DomainError, notFound, validationError } from './errors.ts';

/** What Account settings lists: like a device, plus whether the passkey may be synced between devices. */
export type Passkey = { id: string; name: string; createdAt: Date; lastUsedAt: Date | null; synced: boolean };

/**
 * A passkey just registered, and what its registration proved, for a session that ends with it:
 * `amrOf` says so (see passkeyAmr), with a password first or not.
 */
export type RegisteredPasskey = { passkey: Passkey; amrOf(proof: { afterPassword: boolean }): string[] };

/**
 * A passkey assertion's outcome. `amr` is what the session passed (see `passkeyAmr` in access.ts).
 * `invalid`: not a passkey of ours, a wrong or reused challenge, a bad signature, no user
 * verification where it is required, a counter that went backwards, a changed backup-eligible flag.
 * `locked`: a passkey of an account that may not sign in. `throttled`: this ceremony was refused
 * too often from this IP (see PASSKEY_THROTTLE) and is paused; nothing was checked.
 */
export type PasskeyCheck =
  | { ok: true; account: Account; passkey: Passkey; amr: string[] }
  | { ok: false; reason: 'invalid' | 'locked' | 'throttled' };

/**
 * Where the options of a ceremony are bound: `register` and `confirm` to the provider session
 * (its uid), `sign_in` and `second_step` to the interaction (its uid). A challenge answers one
 * ceremony of its purpose and binding, once, within a few minutes.
 */
export type Ceremony = { purpose: 'register' | 'confirm' | 'sign_in' | 'second_step'; binding: string };

export const PASSKEY_NAME_MAX = CREDENTIAL_NAME_MAX;
/** Long enough to find the phone or the security key, short enough that a challenge is not worth stealing. */
const CEREMONY_MS = 5 * 60 * 1000;
/** ES256 and RS256: what every platform authenticator and security key offers (COSE ids). */
const ALGORITHMS = [-7, -257];
/** The database's limit on a credential id; anything longer is not one of ours. */
const CREDENTIAL_ID_MAX = 1400;

/** What each refusal says: `message` in English for logs and the API, `words` for the person's page. */
const REFUSED = {
  nameRequired: ['Give this passkey a name, like "My laptop".', 'name', { key: 'passkeys.add.nameRequired' }],
  nameTooLong: [
    `Use at most ${PASSKEY_NAME_MAX} characters for the name.`,
    'name',
    { key: 'passkeys.add.nameTooLong', values: { max: PASSKEY_NAME_MAX } },
  ],
  failed: ['The passkey could not be created. Try again.', 'passkey', { key: 'passkeys.add.failed' }],
  duplicate: ['This passkey is already registered. Choose another one.', 'passkey', { key: 'passkeys.add.duplicate' }],
} as const;
const refused = (why: keyof typeof REFUSED) => {
  const [message, field, words] = REFUSED[why];
  return validationError(message, field, { ...words });
};

/** What is wrong with a passkey's name (the rule of credential-names.ts), or undefined when nothing is. */
export const passkeyNameRefusal = (name: unknown): DomainError | undefined =>
  credentialNameRefusal(name, { required: () => refused('nameRequired'), tooLong: () => refused('nameTooLong') });

/** The refusal of a registration that is not one (what a page posts when the browser sent nothing usable). */
export const passkeyNotCreated = () => refused('failed');

/** What the audit trail calls an assertion of each purpose. */
const ASSERTION_EVENT = {
  sign_in: 'sign_in.passkey',
  second_step: 'sign_in.passkey_second_step',
  confirm: 'reauth.passkey',
} as const;
type AssertionPurpose = keyof typeof ASSERTION_EVENT;

/** Challenges are kept hashed: a copy of the table answers no ceremony. */
const challengeHash = (challenge: string) => crypto.createHash('sha256').update(challenge, 'utf8').digest('base64url');

/** The WebAuthn user handle: the account id's 16 bytes, nothing personal. */
const userHandleOf = (accountId: string) => new Uint8Array(Buffer.from(accountId.replaceAll('-', ''), 'hex'));

const publicPasskey = (row: PasskeyRow): Passkey => ({
  id: row.id,
  name: row.name,
  createdAt: row.createdAt,
  lastUsedAt: row.lastUsedAt,
  synced: row.backupEligible,
});

/** Why an assertion was refused, for the audit trail (the person only ever hears "invalid"). */
class AssertionRefusal {
  readonly reason: string;
  readonly detail: Record<string, unknown>;
  readonly owner: Account | null;

  constructor(reason: string, owner: Account | null = null, detail: Record<string, unknown> = {}) {
    this.reason = reason;
    this.owner = owner;
    this.detail = detail;
  }
}

/**
 * The library's message, for the audit trail, cut short: some repeat what was posted (an origin
 * of a few kilobytes), and the audit trail keeps what we say, not what a stranger sent.
 */
const errorMessage = (error: unknown) => (error instanceof Error ? error.message : String(error)).slice(0, 160);

/**
 * An unknown credential id as the audit trail keeps it: a SHA-256 prefix, enough to tell one
 * repeated id from many, without storing up to 1,400 characters a stranger chose.
 */
const credentialIdDigest = (credentialId: string) =>
  crypto.createHash('sha256').update(credentialId, 'utf8').digest('base64url').slice(0, 16);

/** The challenge the browser signed, read from the client data, or undefined when there is none to read. */
function challengeOf(response: AuthenticationResponseJSON): string | undefined {
  const encoded: unknown = response?.response?.clientDataJSON;
  if (typeof encoded !== 'string' || encoded.length > 8192) return undefined;
  try {
    const challenge: unknown = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'))?.challenge;
    return typeof challenge === 'string' && challenge.length > 0 ? challenge : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A signature counter that did not go up (WebAuthn §6.1.1): a sign of a cloned authenticator.
 * Zero on both sides is an authenticator without a counter (synced passkeys).
 */
const counterWentBack = (stored: number, reported: number) => (reported > 0 || stored > 0) && reported <= stored;

/**
 * Passkeys (WebAuthn Level 3, @simplewebauthn/server): the relying party id is ISSUER's host and
 * the only origin ISSUER's origin.
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
  private readonly rpID: string;
  private readonly origin: string;
  private readonly throttle: PasskeyThrottle;

  constructor(deps: PasskeyService['deps']) {
    this.deps = deps;
    this.throttle = new PasskeyThrottle(deps.repositories.throttle);
    const issuer = new URL(deps.issuer);
    this.rpID = issuer.hostname;
    this.origin = issuer.origin;
  }

  async list(accountId: string): Promise<Passkey[]> {
    return (await this.deps.repositories.passkeys.listForAccount(accountId)).map(publicPasskey);
  }

  /** Options to create a discoverable credential with user verification for `account`, excluding those it has. */
  async registrationOptions(account: Account, sessionUid: string): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const existing = await this.deps.repositories.passkeys.listForAccount(account.id);
    const options = await generateRegistrationOptions({
      rpName: this.deps.serviceName,
      rpID: this.rpID,
      userID: userHandleOf(account.id),
      userName: account.email,
      userDisplayName: account.name || account.email,
      attestationType: 'none',
      authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
      excludeCredentials: existing.map((passkey) => ({ id: passkey.credentialId, transports: passkey.transports })),
      supportedAlgorithmIDs: ALGORITHMS,
      timeout: CEREMONY_MS,
    });
    await this.remember({ purpose: 'register', binding: sessionUid }, options.challenge, account.id);
    return options;
  }

  /**
   * Verifies and stores a new passkey named `name`; audits and mails. Refusals are validation
   * errors with words. The passkey is stored before it is audited: audit writes never fail (see
   * AuditWriter), so nothing after the insert can leave it half-written.
   */
  async register(
    account: Account,
    sessionUid: string,
    response: RegistrationResponseJSON,
    name: string,
    where: RequestContext,
  ): Promise<RegisteredPasskey> {
    // The name first: a refusal here leaves the challenge live, so the same response can be sent again.
    const nameRefused = passkeyNameRefusal(name);
    if (nameRefused) throw nameRefused;
    const trimmed = name.trim();
    const failed = async (reason: string, detail: Record<string, unknown> = {}) => {
      await this.deps.audit.record({
        event: 'passkey.register',
        outcome: 'failure',
        reason,
        accountId: account.id,
        email: account.email,
        ...where,
        detail,
      });
    };
    let verification: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
    let challengeRefused = false;
    try {
      verification = await verifyRegistrationResponse({
        response,
        expectedChallenge: async (challenge) => {
          challengeRefused = !(await this.take({ purpose: 'register', binding: sessionUid }, challenge, account.id));
          return !challengeRefused;
        },
        expectedOrigin: this.origin,
        expectedRPID: this.rpID,
        requireUserVerification: true,
        supportedAlgorithmIDs: ALGORITHMS,
      });
    } catch (error) {
      // The library's words for a refused challenge repeat the one submitted: only the reason is kept.
      await failed(challengeRefused ? 'challenge' : 'invalid', challengeRefused ? {} : { error: errorMessage(error) });
      throw refused('failed');
    }
    if (!verification.verified) {
      await failed('invalid');
      throw refused('failed');
    }
    const info = verification.registrationInfo;
    const row = {
      id: crypto.randomUUID(),
      accountId: account.id,
      credentialId: info.credential.id,
      publicKey: info.credential.publicKey,
      signCount: info.credential.counter,
      transports: info.credential.transports ?? [],
      backupEligible: info.credentialDeviceType === 'multiDevice',
      backedUp: info.credentialBackedUp,
      aaguid: info.aaguid,
      name: trimmed,
    };
    // A credential id is unique everywhere: a second account claiming one would sign in as the first.
    if (row.credentialId.length > CREDENTIAL_ID_MAX || !(await this.deps.repositories.passkeys.insert(row))) {
      await failed('duplicate', { credentialId: row.credentialId });
      throw refused('duplicate');
    }
    await this.deps.audit.record({
      event: 'passkey.register',
      outcome: 'success',
      accountId: account.id,
      email: account.email,
      ...where,
      detail: { passkeyId: row.id, name: trimmed, synced: row.backupEligible, aaguid: row.aaguid },
    });
    await this.notify(account, 'passkey-added', trimmed, { where });
    const passkey = { id: row.id, name: trimmed, createdAt: new Date(), lastUsedAt: null, synced: row.backupEligible };
    // What the registration proved (user verification was required above): what this session may claim for it.
    const { userVerified } = info;
    return { passkey, amrOf: ({ afterPassword }) => passkeyAmr({ backupEligible: row.backupEligible, userVerified, afterPassword }) };
  }

  async remove(account: Account, passkeyId: string, where: RequestContext): Promise<Passkey> {
    // Looked up among the account's own, so an id of someone else's (or no id at all) never reaches SQL.
    const passkey = (await this.list(account.id)).find((candidate) => candidate.id === passkeyId);
    const removed =
      passkey &&
      (await this.deps.transaction(async (repositories) => {
        // The account's lock before any row: the order every backup-code change takes (see lockAccount).
        await repositories.backupCodes.lockAccount(account.id);
        if (!(await repositories.passkeys.delete(account.id, passkey.id))) return null;
        return { voidedCodes: await voidBackupCodesWithoutSecondFactor(repositories, account.id) };
      }));
    if (!passkey || !removed) throw notFound('That passkey is not on your account.', { key: 'passkeys.notOnAccount' });
    await this.deps.audit.record({
      event: 'passkey.remove',
      outcome: 'success',
      accountId: account.id,
      email: account.email,
      ...where,
      detail: { passkeyId: passkey.id, name: passkey.name, ...(removed.voidedCodes > 0 ? { backupCodesVoided: removed.voidedCodes } : {}) },
    });
    await this.notify(account, 'passkey-removed', passkey.name, {
      where,
      ...(removed.voidedCodes > 0 ? { backupCodesVoided: removed.voidedCodes } : {}),
    });
    return passkey;
  }

  /**
   * Options for an assertion. `sign_in`: no account yet (discoverable credential, user
   * verification required). `second_step` and `confirm`: the account's own passkeys only.
   */
  async authenticationOptions(ceremony: Ceremony, account?: Account): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const purpose = assertionPurpose(ceremony);
    if (purpose !== 'sign_in' && !account) throw new Error(`a ${purpose} passkey ceremony needs the account`);
    const own = purpose === 'sign_in' || !account ? undefined : await this.deps.repositories.passkeys.listForAccount(account.id);
    const options = await generateAuthenticationOptions({
      rpID: this.rpID,
      ...(own ? { allowCredentials: own.map((passkey) => ({ id: passkey.credentialId, transports: passkey.transports })) } : {}),
      // After a password the passkey is the second factor: possession is enough, as with a code.
      userVerification: purpose === 'second_step' ? 'preferred' : 'required',
      timeout: CEREMONY_MS,
    });
    await this.remember(ceremony, options.challenge, purpose === 'sign_in' ? null : (account?.id ?? null));
    return options;
  }

  /**
   * Verifies an assertion for the ceremony: the challenge is taken (single use), the credential
   * must be registered (and the account's own when `account` is given), the signature, origin, rp
   * id, counter and backup-eligible flag must hold; the counter, backup state and last use are
   * stored. Audited, success and failure. `afterPassword` decides `amr` (see passkeyAmr).
   */
  async verify(
    ceremony: Ceremony,
    response: AuthenticationResponseJSON,
    where: RequestContext,
    options: { account?: Account; afterPassword: boolean },
  ): Promise<PasskeyCheck> {
    const purpose = assertionPurpose(ceremony);
    const event = ASSERTION_EVENT[purpose];
    const windowKey = passkeyWindowKey(purpose, ceremony.binding, where.ip);
    let outcome: { account: Account; row: PasskeyRow; userVerified: boolean } | AssertionRefusal;
    if (await this.throttle.paused(windowKey)) {
      outcome = new AssertionRefusal('throttled', options.account ?? null);
    } else {
      // Not caught here: whatever a browser sends is refused inside `check` (the library's errors
      // included), so what comes out is the database or a bug, for the central handler (503, 500,
      // logged) and not a refusal counted toward the pause.
      outcome = await this.check(purpose, ceremony.binding, response, options.account);
    }
    if (outcome instanceof AssertionRefusal) {
      const paused = outcome.reason !== 'throttled' && (await this.throttle.failed(windowKey));
      const who = outcome.owner ?? options.account;
      await this.deps.audit.record({
        event,
        outcome: 'failure',
        reason: outcome.reason,
        accountId: who?.id,
        email: who?.email,
        ...where,
        detail: paused ? { ...outcome.detail, paused: true } : outcome.detail,
      });
      return { ok: false, reason: outcome.reason === 'locked' || outcome.reason === 'throttled' ? outcome.reason : 'invalid' };
    }
    const { account, row, userVerified } = outcome;
    const amr = passkeyAmr({ backupEligible: row.backupEligible, userVerified, afterPassword: options.afterPassword });
    await this.deps.audit.record({
      event,
      outcome: 'success',
      accountId: account.id,
      email: account.email,
      ...where,
      detail: { passkeyId: row.id, name: row.name, userVerified, amr },
    });
    return { ok: true, account, passkey: { ...publicPasskey(row), lastUsedAt: new Date() }, amr };
  }

  /**
   * Every rule of an assertion in turn; the first one broken is the refusal. The challenge comes
   * first: every attempt that names the live challenge uses it up, whatever is wrong with the rest,
   * so one set of options answers one attempt.
   */
  private async check(
    purpose: AssertionPurpose,
    binding: string,
    response: AuthenticationResponseJSON,
    expected: Account | undefined,
  ): Promise<{ account: Account; row: PasskeyRow; userVerified: boolean } | AssertionRefusal> {
    const challenge = challengeOf(response);
    if (!challenge) return new AssertionRefusal('malformed', expected ?? null);
    // Issued for nobody at a sign-in; for the account the options were asked for otherwise.
    const issuedFor = purpose === 'sign_in' ? null : (expected?.id ?? null);
    const challengeTaken = await this.take({ purpose, binding }, challenge, issuedFor);
    const credentialId: unknown = response?.id;
    if (typeof credentialId !== 'string' || credentialId.length === 0 || credentialId.length > CREDENTIAL_ID_MAX) {
      return new AssertionRefusal('malformed', expected ?? null);
    }
    const row = await this.deps.repositories.passkeys.findByCredentialId(credentialId);
    const owner = row ? await this.deps.repositories.accounts.findById(row.accountId) : null;
    if (!row || !owner) {
      const reason = challengeTaken ? 'unknown_credential' : 'challenge';
      return new AssertionRefusal(reason, expected ?? null, { credentialIdDigest: credentialIdDigest(credentialId) });
    }
    const about = { passkeyId: row.id, name: row.name };
    // Said about the expected account: the other owner's name for their passkey stays out of it.
    if (expected && expected.id !== owner.id) {
      return new AssertionRefusal('other_account', expected, { passkeyId: row.id, ownerId: owner.id });
    }
    if (!challengeTaken) return new AssertionRefusal('challenge', owner, about);
    const handle: unknown = response.response?.userHandle;
    const absent = handle === undefined || handle === null || handle === '';
    // A discoverable sign-in names the account only through the handle: it must be the credential's.
    if ((!absent || purpose === 'sign_in') && handle !== Buffer.from(userHandleOf(owner.id)).toString('base64url')) {
      return new AssertionRefusal('user_handle', owner, about);
    }
    let verification: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
    try {
      verification = await verifyAuthenticationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: this.origin,
        expectedRPID: this.rpID,
        // Counter 0 turns the library's own counter check off: it runs before the signature, so a
        // stranger's made-up counter would be audited as a cloned key. It is checked below, after.
        credential: { id: row.credentialId, publicKey: new Uint8Array(row.publicKey), counter: 0, transports: row.transports },
        requireUserVerification: purpose !== 'second_step',
      });
    } catch (error) {
      return new AssertionRefusal('assertion', owner, { ...about, error: errorMessage(error) });
    }
    const info = verification.authenticationInfo;
    if (!verification.verified) return new AssertionRefusal('signature', owner, about);
    if (counterWentBack(row.signCount, info.newCounter)) {
      return new AssertionRefusal('counter', owner, { ...about, counter: info.newCounter, stored: row.signCount });
    }
    // BE never changes for a credential: a different one claims to be another kind of authenticator.
    if ((info.credentialDeviceType === 'multiDevice') !== row.backupEligible) {
      return new AssertionRefusal('backup_eligibility', owner, { ...about, credentialDeviceType: info.credentialDeviceType });
    }
    // Only after the proof of possession, so a stranger learns nothing about the account.
    if (!isUsable(owner)) return new AssertionRefusal('locked', owner, about);
    // Conditional on the counter checked: of two assertions at once with the same counter, one passes.
    if (!(await this.deps.repositories.passkeys.recordUse(row.id, row.signCount, info.newCounter, info.credentialBackedUp))) {
      return new AssertionRefusal('counter', owner, { ...about, counter: info.newCounter });
    }
    return {
      account: owner,
      row: { ...row, signCount: info.newCounter, backedUp: info.credentialBackedUp },
      userVerified: info.userVerified,
    };
  }

  /** The live challenge of this ceremony, replacing any earlier one. */
  private async remember(ceremony: Ceremony, challenge: string, accountId: string | null): Promise<void> {
    const expiresAt = new Date(Date.now() + CEREMONY_MS);
    await this.deps.repositories.webauthnChallenges.put(ceremony.purpose, ceremony.binding, challengeHash(challenge), accountId, expiresAt);
  }

  /**
   * Whether `challenge` is the live one of this ceremony, issued for `accountId`: it is deleted
   * as it is read, so it answers once, whichever process asks.
   */
  private async take(ceremony: Ceremony, challenge: string, accountId: string | null): Promise<boolean> {
    if (typeof challenge !== 'string' || challenge.length === 0) return false;
    const taken = await this.deps.repositories.webauthnChallenges.take(ceremony.purpose, ceremony.binding, challengeHash(challenge));
    return taken !== undefined && taken.accountId === accountId;
  }

  /** The person is told (see sendAccountNotice). */
  private notify(
    account: Account,
    template: 'passkey-added' | 'passkey-removed',
    passkeyName: string,
    notice: { where: RequestContext; backupCodesVoided?: number },
  ) {
    const { where, ...details } = notice;
    return sendAccountNotice(this.deps.mailer, this.deps.logger, { account, template, where, data: { passkeyName, ...details } });
  }
}

/** `register` is a creation, never an assertion: options or answers for it here are a programming error. */
function assertionPurpose(ceremony: Ceremony): AssertionPurpose {
  if (ceremony.purpose === 'register') throw new Error('a register ceremony has no assertion');
  return ceremony.purpose;
}
