import crypto from 'node:crypto';
import type { Logger } from 'pino';
import { passwordProblemOf } from '../auth/password-policy.ts';
import { hashPassword } from '../auth/passwords.ts';
import type { PasswordHashCost } from '../config/password-hash.ts';
import { hashResetToken, newResetToken, RESET_TOKEN_PATTERN } from '../auth/reset-tokens.ts';
import type { Account } from '../db/entities/index.ts';
import type { Repositories, UnitOfWork } from '../db/repositories/index.ts';
import type { ResetTokenState } from '../db/repositories/reset-tokens.ts';
import type { Message } from '../i18n/words.ts';
import { languageOfMail, type Mailer } from '../mail/mailer.ts';
import type { ThrottleService } from '../auth/throttle.ts';
import { endSessions, isUsable } from './access.ts';
import type { AuditService, RequestContext } from './audit.ts';
import { BackgroundWork } from './background.ts';

export type ResetRequestOutcome = 'sent' | 'throttled' | 'refused';

/** A usable link names its account, the sign-in it was asked from, and that sign-in's school system (for its school's name). */
export type ResetLinkState =
  | { valid: true; account: Account; interactionUid: string | null; clientId: string | null; schoolId: string | null }
  | { valid: false; reason: string };

/** `message` is English (the audit trail and tests use it); `resetProblemWords` says it on a page. */
export type ResetOutcome =
  | { done: true; interactionUid: string | null }
  | { done: false; field: 'password'; message: string; words: Message }
  | { done: false; field: 'confirm'; message: string }
  | { done: false; field: 'token'; message: string };

/** Why a link cannot be used, in English: also the audit trail's `reason`, so these stay as they are. */
export const USED = 'This link has already been used. Each link works once.';
export const EXPIRED = 'This link has expired.';
export const UNKNOWN = 'This link is not valid. It may have been copied incompletely.';
export const NOT_SAME = 'The two passwords are not the same.';

const LINK_WORDS: Record<string, string> = {
  [USED]: 'password.link.used',
  [EXPIRED]: 'password.link.expired',
  [UNKNOWN]: 'password.link.unknown',
};

/** What a page says for a link problem (USED, EXPIRED or UNKNOWN), in the reader's language. */
export function linkProblemWords(reason: string): Message {
  return { key: LINK_WORDS[reason] ?? 'password.link.unknown' };
}

/** What a page says for a refused reset, next to the field it is about. */
export function resetProblemWords(outcome: Extract<ResetOutcome, { done: false }>): Message {
  if (outcome.field === 'password') return outcome.words;
  if (outcome.field === 'confirm') return { key: 'password.reset.notSame' };
  return linkProblemWords(outcome.message);
}

/**
 * Why a reset link cannot be used now, or null when it can: one rule for showing the form and
 * for setting the password. A locked account's links do nothing (they say no more than an
 * unknown link would).
 */
export function resetLinkProblem(link: ResetTokenState | null, account: Account | null, now: number): string | null {
  if (!link) return UNKNOWN;
  if (link.usedAt) return USED;
  if (link.expiresAt.getTime() <= now) return EXPIRED;
  return accountProblem(account, link.accountId);
}

/** The account of a link must still be able to sign in: a locked account's links do nothing. */
export function accountProblem(account: Account | null, linkAccountId: string): string | null {
  return isUsable(account) && account.id === linkAccountId ? null : UNKNOWN;
}

/** Thrown inside the transaction to undo it: the link turned out unusable (locked meanwhile). */
class LinkRefused extends Error {}

/** First-time access and forgotten passwords are one flow (rule 3). */
export class PasswordResetService {
  private readonly repositories: Repositories;
  private readonly transaction: UnitOfWork;
  private readonly mailer: Mailer;
  private readonly throttle: ThrottleService;
  private readonly audit: AuditService;
  private readonly options: { issuer: string; tokenTtlSeconds: number; logger: Logger; passwordHash?: PasswordHashCost };

  constructor(
    repositories: Repositories,
    transaction: UnitOfWork,
    mailer: Mailer,
    throttle: ThrottleService,
    audit: AuditService,
    options: { issuer: string; tokenTtlSeconds: number; logger: Logger; passwordHash?: PasswordHashCost },
  ) {
    this.repositories = repositories;
    this.transaction = transaction;
    this.mailer = mailer;
    this.throttle = throttle;
    this.audit = audit;
    this.options = options;
    this.background = new BackgroundWork(options.logger);
  }

  get lifetimeMinutes(): number {
    return Math.round(this.options.tokenTtlSeconds / 60);
  }

  private readonly background: BackgroundWork;

  /**
   * Starts a request without making the caller wait: the page must answer in the same time
   * whether or not the address has an account. Errors are logged; shutdown waits (`drain`).
   */
  requestInBackground(email: string, interactionUid: string | null, where: RequestContext): void {
    this.background.run('could not send a password link', () => this.request(email, interactionUid, where));
  }

  /** Resolves once every request started in the background has finished. */
  async drain(): Promise<void> {
    await this.background.drain();
  }

  /**
   * Takes the same time and answers the page the same way whatever happens, so a person cannot
   * learn whether the address has an account; the outcome is for administrators, who can.
   * `where.clientId` is the school system whose login page it was asked from: the link keeps it,
   * so the pages it opens show that school's name. The mail is in `where.language`, and so is
   * the page its link opens.
   */
  async request(email: string, interactionUid: string | null, where: RequestContext): Promise<ResetRequestOutcome> {
    const requested = { event: 'password_reset.request', email, ...where };
    const account = await this.repositories.accounts.findByEmail(email);
    if (!(await this.throttle.mayEmail(account, email))) {
      await this.audit.record({ ...requested, accountId: account?.id, outcome: 'failure', reason: 'throttled' });
      return 'throttled';
    }
    if (!isUsable(account)) {
      await this.audit.record({ ...requested, accountId: account?.id, outcome: 'failure', reason: account ? 'locked' : 'unknown_address' });
      return 'refused';
    }
    const { token, hash } = newResetToken();
    await this.repositories.resetTokens.insert({
      id: crypto.randomUUID(),
      accountId: account.id,
      tokenHash: hash,
      interactionUid,
      clientId: where.clientId ?? null,
      schoolId: where.schoolId ?? null,
      expiresAt: new Date(Date.now() + this.options.tokenTtlSeconds * 1000),
    });
    // Built from ISSUER, never from the request's Host header.
    const language = languageOfMail(account, where);
    const query = new URLSearchParams({ token, ...(where.language ? { ui_locales: where.language } : {}) });
    const link = `${this.options.issuer}/password/reset?${query}`;
    await this.mailer.send({
      to: account.email,
      template: 'password-reset',
      data: { name: account.name, email: account.email, link, lifetime: this.lifetimeMinutes },
      language,
      schoolName: where.schoolName ?? null,
    });
    await this.audit.record({ ...requested, accountId: account.id, outcome: 'success' });
    return 'sent';
  }

  async inspect(token: string): Promise<ResetLinkState> {
    if (!RESET_TOKEN_PATTERN.test(token)) return { valid: false, reason: UNKNOWN };
    const state = await this.repositories.resetTokens.findByHash(hashResetToken(token));
    const account = state ? await this.repositories.accounts.findById(state.accountId) : null;
    const problem = resetLinkProblem(state, account, Date.now());
    if (problem !== null) return { valid: false, reason: problem };
    return {
      valid: true,
      account: account!,
      interactionUid: state!.interactionUid,
      clientId: state!.clientId ?? null,
      schoolId: state!.schoolId ?? null,
    };
  }

  /**
   * Sets the password and spends the link in one transaction: a failure leaves both unchanged.
   * It signs nobody in: the person still logs in (and passes any authenticator) afterwards.
   * `inspected`: what `inspect(token)` said a moment ago, when the caller has it (the spend in the
   * transaction decides again, so a link used meanwhile is still refused).
   */
  async complete(
    token: string,
    password: string,
    confirm: string,
    where: RequestContext,
    inspected?: ResetLinkState,
  ): Promise<ResetOutcome> {
    const state = inspected ?? (await this.inspect(token));
    if (!state.valid) {
      await this.audit.record({ event: 'password_reset.complete', outcome: 'failure', reason: state.reason, ...where });
      return { done: false, field: 'token', message: state.reason };
    }
    const problem = passwordProblemOf(password, state.account.email);
    if (problem) return { done: false, field: 'password', message: problem.message, words: problem.words };
    if (password !== confirm) return { done: false, field: 'confirm', message: NOT_SAME };
    const passwordHash = await hashPassword(password, this.options.passwordHash);
    let spent;
    try {
      spent = await this.transaction(async (repositories) => {
        // Of two concurrent uses of one link, only one claims it (a conditional UPDATE).
        const claimed = await repositories.resetTokens.spend(hashResetToken(token));
        if (!claimed) return null;
        // The account may have been locked since the form was shown: decide again, now.
        const account = await repositories.accounts.findById(claimed.accountId);
        const problem = accountProblem(account, claimed.accountId);
        if (problem) throw new LinkRefused(problem);
        await repositories.accounts.setPasswordHash(claimed.accountId, passwordHash);
        await repositories.resetTokens.spendAllFor(claimed.accountId);
        // Whoever knew the old password loses every session and refresh token with it.
        await endSessions(repositories, claimed.accountId);
        return claimed;
      });
    } catch (error) {
      if (!(error instanceof LinkRefused)) throw error;
      await this.audit.record({ event: 'password_reset.complete', outcome: 'failure', reason: error.message, ...where });
      return { done: false, field: 'token', message: error.message };
    }
    if (!spent) return { done: false, field: 'token', message: USED };
    await this.audit.record({
      event: 'password_reset.complete',
      outcome: 'success',
      accountId: state.account.id,
      email: state.account.email,
      ...where,
    });
    await this.sendChangedNotice(state.account, where);
    return { done: true, interactionUid: spent.interactionUid };
  }

  private async sendChangedNotice(account: Account, where: RequestContext): Promise<void> {
    try {
      await this.mailer.send({
        to: account.email,
        template: 'password-changed',
        data: { name: account.name, email: account.email, changedAt: new Date() },
        language: languageOfMail(account, where),
        schoolName: where.schoolName ?? null,
      });
    } catch (error) {
      // The password is already changed; a mail outage must not turn that into an error page.
      this.options.logger.error({ err: error }, 'could not send the password-changed notice');
    }
  }
}
