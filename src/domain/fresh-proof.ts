import type { Account } from '../db/entities/index.ts';
import type { Repositories } from '../db/repositories/index.ts';
import type { RequestContext } from './audit.ts';
import { bothFactorsAtOnce } from './access.ts';
import type { AuthenticationService, CredentialCheck } from './authentication.ts';
import { normaliseBackupCode } from './backup-codes.ts';

/** How recent proof must be to change credentials: a few minutes, in one place. */
export const FRESH_PROOF_SECONDS = 5 * 60;

/**
 * The provider session a change is made from. `loginTs` is when the password was given at
 * sign-in: the code and enrolment steps keep it, so it never stands for a code alone.
 */
export type ProofSession = { sessionUid: string; accountId: string; loginTs: number | undefined; amr?: readonly string[] | undefined };

export type FreshProof = {
  fresh: boolean;
  /** Whether proof needs a code as well as the password (the account has a device). */
  needsCode: boolean;
  /** The device whose code gave the latest proof, if any. */
  codeDeviceId: string | null;
};

/** A refusal says whether the page must ask for a code too (the account has a device). */
export type Confirmation = { ok: true } | { ok: false; field: 'password' | 'code'; check: CredentialCheck | undefined; needsCode: boolean };

/**
 * Fresh proof for credential changes (issue 9, item 2b). Adding an authenticator device, removing
 * one, and creating backup material (backup codes, passkeys) each call `check` and refuse unless
 * it says fresh: the password and, once the account has a device, a current code from one,
 * both within FRESH_PROOF_SECONDS. Proof is bound to one provider session (by its uid) and
 * stored in PostgreSQL; a new session starts without any.
 */
export class FreshProofService {
  private readonly repositories: Repositories;
  private readonly authentication: AuthenticationService;

  constructor(repositories: Repositories, authentication: AuthenticationService) {
    this.repositories = repositories;
    this.authentication = authentication;
  }

  async check(session: ProofSession, now = Date.now()): Promise<FreshProof> {
    const [devices, proofs] = await Promise.all([
      this.repositories.authenticators.countSecondFactors(session.accountId),
      this.repositories.sessionProofs.latest(session.sessionUid, session.accountId),
    ]);
    const since = now - FRESH_PROOF_SECONDS * 1000;
    const passwordAt = Math.max((session.loginTs ?? 0) * 1000, proofs.passwordAt?.getTime() ?? 0);
    // A passkey sign-in proved both factors at once, when it signed in.
    const codeAt = Math.max(proofs.codeAt?.getTime() ?? 0, bothFactorsAtOnce(session.amr) ? (session.loginTs ?? 0) * 1000 : 0);
    const needsCode = devices > 0;
    return { fresh: passwordAt >= since && (!needsCode || codeAt >= since), needsCode, codeDeviceId: proofs.codeDeviceId };
  }

  /**
   * The "confirm it's you" page: the password, then (with a device) a code. Each goes through the
   * same throttled, audited checks as sign-in; nothing is recorded unless everything asked is right.
   * The code may be a backup code: someone who lost their phone signs in with one, and must then
   * confirm to remove the lost device and add a new one. It is spent and mailed as at sign-in.
   */
  async confirm(account: Account, session: ProofSession, password: string, code: string, where: RequestContext): Promise<Confirmation> {
    const needsCode = (await this.repositories.authenticators.countSecondFactors(account.id)) > 0;
    if (!password) return { ok: false, field: 'password', check: undefined, needsCode };
    if (needsCode && !code.trim()) return { ok: false, field: 'code', check: undefined, needsCode };
    const passwordCheck = await this.authentication.checkPasswordOf(account, password, where);
    if (!passwordCheck.ok) return { ok: false, field: 'password', check: passwordCheck, needsCode };
    const codeCheck = needsCode ? await this.checkCode(account, code, where) : undefined;
    if (codeCheck && !codeCheck.ok) return { ok: false, field: 'code', check: codeCheck, needsCode };
    const at = new Date();
    await this.repositories.sessionProofs.record(session.sessionUid, account.id, 'password', null, at);
    if (codeCheck?.ok) await this.recordCode(session, codeCheck.deviceId ?? null, at);
    return { ok: true };
  }

  /** A 6-digit code never has the shape of a backup code, so the shape says which was typed. */
  private checkCode(account: Account, code: string, where: RequestContext): Promise<CredentialCheck> {
    return normaliseBackupCode(code)
      ? this.authentication.checkBackupCode(account, code, where)
      : this.authentication.checkCode(account, code, where);
  }

  /**
   * A passkey with user verification is both factors at once: proof of the password and of the
   * code for this session ("Confirm with a passkey"; a passkey sign-in counts through its amr).
   */
  async recordPasskey(session: ProofSession, at = new Date()): Promise<void> {
    await this.repositories.sessionProofs.record(session.sessionUid, session.accountId, 'password', null, at);
    await this.recordCode(session, null, at);
  }

  /** A code passed at sign-in, or by saving a new device, is proof of the code for this session. */
  async recordCode(session: ProofSession, deviceId: string | null, at = new Date()): Promise<void> {
    await this.repositories.sessionProofs.record(session.sessionUid, session.accountId, 'code', deviceId, at);
  }
}
