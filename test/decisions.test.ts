import pino from 'pino';
import { verifyPassword } from '../src/auth/passwords.ts';
import { newResetToken } from '../src/auth/reset-tokens.ts';
import type { Account } from '../src/db/entities/index.ts';
import type { Repositories, UnitOfWork } from '../src/db/repositories/index.ts';
import type { ResetTokenState } from '../src/db/repositories/reset-tokens.ts';
import {
  AccessService,
  ACR_BASIC,
  ACR_HIGHER,
  earliestLoginTs,
  holdsSession,
  isUsable,
  loginTsFor,
  trustedSince,
} from '../src/domain/access.ts';
import { accountProblem, EXPIRED, PasswordResetService, resetLinkProblem, UNKNOWN, USED } from '../src/domain/password-reset.ts';
import { accountUnavailable, higherAccessRequested } from '../src/oidc/policy.ts';
import { accountFixture } from './support/accounts.ts';

/**
 * Unit tests of the security decisions that mutation testing found unguarded: pure functions,
 * and services over in-memory repositories. The end-to-end tests on real PostgreSQL stay.
 */

const NOW = Date.UTC(2026, 10, 26, 10, 0, 0);
const account = (overrides: Partial<Account> = {}): Account =>
  accountFixture({ createdAt: new Date(NOW), updatedAt: new Date(NOW), ...overrides });
const link = (overrides: Partial<ResetTokenState> = {}): ResetTokenState => ({
  accountId: 'acc-1',
  interactionUid: null,
  clientId: null,
  schoolId: null,
  expiresAt: new Date(NOW + 60_000),
  usedAt: null,
  ...overrides,
});

describe('isUsable', () => {
  test('only an existing, active account may sign in or hold sessions', () => {
    expect(isUsable(account())).toBe(true);
    expect(isUsable(account({ status: 'locked' }))).toBe(false);
    expect(isUsable(null)).toBe(false);
    expect(isUsable(undefined)).toBe(false);
  });
});

describe('resetLinkProblem', () => {
  test('a current, unused link of an active account can be used', () => {
    expect(resetLinkProblem(link(), account(), NOW)).toBeNull();
    expect(resetLinkProblem(link({ expiresAt: new Date(NOW + 1) }), account(), NOW)).toBeNull();
  });

  test('unknown, used and expired links say so; used wins over expired', () => {
    expect(resetLinkProblem(null, account(), NOW)).toBe(UNKNOWN);
    expect(resetLinkProblem(link({ usedAt: new Date(NOW - 1) }), account(), NOW)).toBe(USED);
    expect(resetLinkProblem(link({ expiresAt: new Date(NOW) }), account(), NOW)).toBe(EXPIRED);
    expect(resetLinkProblem(link({ expiresAt: new Date(NOW - 1) }), account(), NOW)).toBe(EXPIRED);
    expect(resetLinkProblem(link({ usedAt: new Date(NOW - 1), expiresAt: new Date(NOW - 1) }), account(), NOW)).toBe(USED);
  });

  test('a locked, missing or different account makes the link do nothing, saying no more than an unknown link', () => {
    expect(resetLinkProblem(link(), account({ status: 'locked' }), NOW)).toBe(UNKNOWN);
    expect(resetLinkProblem(link(), null, NOW)).toBe(UNKNOWN);
    expect(resetLinkProblem(link(), account({ id: 'acc-2' }), NOW)).toBe(UNKNOWN);
    expect(accountProblem(account(), 'acc-1')).toBeNull();
    expect(accountProblem(account({ status: 'locked' }), 'acc-1')).toBe(UNKNOWN);
    expect(accountProblem(account(), 'acc-2')).toBe(UNKNOWN);
  });
});

/**
 * The repositories a reset completes through, in memory. Every call yields first, so concurrent
 * callers interleave as they would on a database; spend() checks and sets in one step, like the
 * conditional UPDATE. A transaction that throws leaves the state as it was.
 */
function memoryResetWorld(tokenHash: string) {
  const state = {
    accounts: new Map([['acc-1', account()]]),
    tokens: new Map([[tokenHash, link({ expiresAt: new Date(Date.now() + 60_000) })]]),
    revoked: [] as string[],
  };
  const tick = () => new Promise((resolve) => setImmediate(resolve));
  const repositories = {
    accounts: {
      async findById(id: string) {
        await tick();
        return state.accounts.get(id) ?? null;
      },
      async setPasswordHash(id: string, passwordHash: string) {
        await tick();
        state.accounts.set(id, { ...state.accounts.get(id)!, passwordHash });
      },
      async setSessionsNotBefore(id: string) {
        await tick();
        state.accounts.set(id, { ...state.accounts.get(id)!, sessionsNotBefore: new Date() });
      },
    },
    resetTokens: {
      async findByHash(hash: string) {
        await tick();
        return state.tokens.get(hash) ?? null;
      },
      async spend(hash: string) {
        await tick();
        const token = state.tokens.get(hash);
        if (!token || token.usedAt || token.expiresAt.getTime() <= Date.now()) return null;
        state.tokens.set(hash, { ...token, usedAt: new Date() });
        return { accountId: token.accountId, interactionUid: token.interactionUid };
      },
      async spendAllFor(accountId: string) {
        await tick();
        for (const [hash, token] of state.tokens)
          if (token.accountId === accountId && !token.usedAt) state.tokens.set(hash, { ...token, usedAt: new Date() });
      },
    },
    oidcPayloads: {
      async revokeAccount(accountId: string) {
        await tick();
        state.revoked.push(accountId);
        return [];
      },
    },
  } as unknown as Repositories;
  const transaction: UnitOfWork = async (work) => {
    const before = { accounts: new Map(state.accounts), tokens: new Map(state.tokens), revoked: [...state.revoked] };
    try {
      return await work(repositories);
    } catch (error) {
      Object.assign(state, before);
      throw error;
    }
  };
  const mailed: string[] = [];
  const service = new PasswordResetService(
    repositories,
    transaction,
    { send: async (message) => void mailed.push(message.template), close: () => {} },
    {} as never,
    { record: async () => {} } as never,
    { issuer: 'https://sso.example', tokenTtlSeconds: 3600, logger: pino({ level: 'silent' }) },
  );
  return { state, service, mailed };
}

describe('PasswordResetService.complete (in-memory repositories)', () => {
  const where = { ip: '192.0.2.1' };
  const PASSWORD = 'a quiet library at half past four';

  test('of two simultaneous completions of one link, one sets the password and the other is told the link was used', async () => {
    const { token, hash } = newResetToken();
    const { state, service } = memoryResetWorld(hash);
    const results = await Promise.all([
      service.complete(token, `${PASSWORD} one`, `${PASSWORD} one`, where),
      service.complete(token, `${PASSWORD} two`, `${PASSWORD} two`, where),
    ]);
    const won = results.findIndex((result) => result.done);
    expect(won).toBeGreaterThanOrEqual(0);
    expect(results[1 - won]).toEqual({ done: false, field: 'token', message: USED });
    expect(await verifyPassword(state.accounts.get('acc-1')!.passwordHash, `${PASSWORD} ${won === 0 ? 'one' : 'two'}`)).toBe(true);
    expect(state.revoked).toEqual(['acc-1']);
  });

  test('an account locked while the password was being hashed gets nothing: the link stays unspent, the password unset', async () => {
    const { token, hash } = newResetToken();
    const { state, service, mailed } = memoryResetWorld(hash);
    // Locked between the check on the form and the transaction (e.g. by the helpdesk).
    const findById = state.accounts.get.bind(state.accounts);
    let reads = 0;
    state.accounts.get = (id: string) => {
      reads += 1;
      const found = findById(id);
      return reads > 1 && found ? { ...found, status: 'locked' } : found;
    };
    expect(await service.complete(token, PASSWORD, PASSWORD, where)).toEqual({ done: false, field: 'token', message: UNKNOWN });
    expect(reads).toBe(2);
    expect(findById('acc-1')!.passwordHash).toBeNull();
    expect(state.tokens.get(hash)!.usedAt).toBeNull();
    expect(state.revoked).toEqual([]);
    expect(mailed).toEqual([]);
  });

  test('a locked account cannot use a link it was sent before the lock', async () => {
    const { token, hash } = newResetToken();
    const { state, service } = memoryResetWorld(hash);
    state.accounts.set('acc-1', account({ status: 'locked' }));
    expect(await service.inspect(token)).toEqual({ valid: false, reason: UNKNOWN });
    expect(await service.complete(token, PASSWORD, PASSWORD, where)).toEqual({ done: false, field: 'token', message: UNKNOWN });
    expect(state.accounts.get('acc-1')!.passwordHash).toBeNull();
  });
});

describe('higherAccessRequested (rule 6)', () => {
  const claims = (acr: Record<string, unknown>) => ({ id_token: { acr } });

  test('acr_values asks for higher only when basic is not also acceptable', () => {
    expect(higherAccessRequested({ acrValues: ACR_HIGHER, claims: undefined })).toBe(true);
    expect(higherAccessRequested({ acrValues: `${ACR_BASIC} ${ACR_HIGHER}`, claims: undefined })).toBe(false);
    expect(higherAccessRequested({ acrValues: ACR_BASIC, claims: undefined })).toBe(false);
    expect(higherAccessRequested({ acrValues: undefined, claims: undefined })).toBe(false);
    expect(higherAccessRequested({ acrValues: `${ACR_HIGHER}x`, claims: undefined })).toBe(false);
  });

  test('an essential acr claim asks for higher by value, or by values without basic', () => {
    expect(higherAccessRequested({ acrValues: undefined, claims: claims({ essential: true, value: ACR_HIGHER }) })).toBe(true);
    expect(higherAccessRequested({ acrValues: undefined, claims: claims({ essential: true, values: [ACR_HIGHER] }) })).toBe(true);
    expect(higherAccessRequested({ acrValues: undefined, claims: claims({ essential: true, values: [ACR_HIGHER, ACR_BASIC] }) })).toBe(
      false,
    );
    expect(higherAccessRequested({ acrValues: undefined, claims: claims({ essential: true, value: ACR_BASIC }) })).toBe(false);
    expect(higherAccessRequested({ acrValues: undefined, claims: claims({ essential: true, values: ACR_HIGHER }) })).toBe(false);
  });

  test('a voluntary acr claim asks for nothing', () => {
    expect(higherAccessRequested({ acrValues: undefined, claims: claims({ value: ACR_HIGHER }) })).toBe(false);
    expect(higherAccessRequested({ acrValues: undefined, claims: claims({ essential: false, values: [ACR_HIGHER] }) })).toBe(false);
    expect(higherAccessRequested({ acrValues: undefined, claims: { id_token: {} } })).toBe(false);
  });
});

describe('accountUnavailable (the account_unavailable login check)', () => {
  const accessOver = (accounts: Record<string, Account>) => {
    const looked: string[] = [];
    const access = new AccessService({
      accounts: {
        findById: async (id: string) => {
          looked.push(id);
          return accounts[id] ?? null;
        },
      },
    } as unknown as Repositories);
    return { access, looked };
  };

  test('a session whose account is locked or gone must sign in again; an active one need not', async () => {
    const { access } = accessOver({ 'acc-1': account(), 'acc-2': account({ id: 'acc-2', status: 'locked' }) });
    expect(await accountUnavailable({ accountId: 'acc-1', loginTs: NOW / 1000 }, access)).toBe(false);
    expect(await accountUnavailable({ accountId: 'acc-2', loginTs: NOW / 1000 }, access)).toBe(true);
    expect(await accountUnavailable({ accountId: 'acc-3', loginTs: NOW / 1000 }, access)).toBe(true);
  });

  test('a session signed in before the account’s sessions were ended must sign in again', async () => {
    const ended = account({ sessionsNotBefore: new Date(NOW + 700) });
    const { access } = accessOver({ 'acc-1': ended });
    expect(await accountUnavailable({ accountId: 'acc-1', loginTs: NOW / 1000 - 60 }, access)).toBe(true);
    expect(await accountUnavailable({ accountId: 'acc-1', loginTs: NOW / 1000 }, access)).toBe(true);
    expect(await accountUnavailable({ accountId: 'acc-1', loginTs: NOW / 1000 + 1 }, access)).toBe(false);
    expect(await accountUnavailable({ accountId: 'acc-1', loginTs: undefined }, access)).toBe(true);
  });

  test('no session account: nothing to check (the login prompt itself asks)', async () => {
    const { access, looked } = accessOver({});
    expect(await accountUnavailable({ accountId: undefined, loginTs: undefined }, access)).toBe(false);
    expect(looked).toEqual([]);
  });
});

describe('sessions not before (sessions ended by a reset, lock or mfa-reset)', () => {
  const ended = account({ sessionsNotBefore: new Date(NOW + 700) });

  test('the earliest loginTs is the whole second after the sessions were ended', () => {
    expect(earliestLoginTs(account())).toBe(0);
    expect(earliestLoginTs(ended)).toBe(NOW / 1000 + 1);
    expect(earliestLoginTs(account({ sessionsNotBefore: new Date(NOW) }))).toBe(NOW / 1000 + 1);
  });

  test('a session from before, or from the same second, holds nothing; a later one does', () => {
    expect(holdsSession(ended, NOW / 1000 - 3600)).toBe(false);
    expect(holdsSession(ended, NOW / 1000)).toBe(false);
    expect(holdsSession(ended, NOW / 1000 + 1)).toBe(true);
    expect(holdsSession(account(), NOW / 1000 - 3600)).toBe(true);
    expect(holdsSession(account({ status: 'locked' }), NOW / 1000)).toBe(false);
    expect(holdsSession(null, NOW / 1000)).toBe(false);
  });

  test('a sign-in inside the second of the reset is dated just after it, so it holds', () => {
    expect(loginTsFor(ended, NOW + 900)).toBe(NOW / 1000 + 1);
    expect(holdsSession(ended, loginTsFor(ended, NOW + 900))).toBe(true);
    expect(loginTsFor(ended, NOW + 5_000)).toBe(NOW / 1000 + 5);
    expect(loginTsFor(account(), NOW + 900)).toBe(NOW / 1000);
  });

  test('a device cookie issued before the sessions were ended no longer counts; one issued since does', () => {
    expect(trustedSince(ended, NOW / 1000 - 86_400)).toBe(false);
    expect(trustedSince(ended, NOW / 1000)).toBe(false);
    expect(trustedSince(ended, loginTsFor(ended, NOW + 900))).toBe(true);
    expect(trustedSince(account(), NOW / 1000 - 86_400)).toBe(true);
  });
});
