import pino from 'pino';
import { hashResetToken, newResetToken } from '../src/auth/reset-tokens.ts';
import { THROTTLE, ThrottleService } from '../src/auth/throttle.ts';
import type { Account } from '../src/db/entities/index.ts';
import type { Repositories, UnitOfWork } from '../src/db/repositories/index.ts';
import type { ResetTokenState } from '../src/db/repositories/reset-tokens.ts';
import { AccountService } from '../src/domain/accounts.ts';
import { PasswordResetService, UNKNOWN, USED } from '../src/domain/password-reset.ts';
import { MemoryThrottleStore } from './support/memory-throttle.ts';
import { accountFixture } from './support/accounts.ts';

/**
 * Unit tests of the password-email request, the reset form's checks and the helpdesk's lock and
 * unlock, over in-memory repositories. test/password-reset.test.ts and test/operations.test.ts
 * keep the journeys over PostgreSQL and SMTP.
 */

const account = accountFixture;
const where = { ip: '192.0.2.1' };
const PASSWORD = 'a quiet library at half past four';

function resetWorld(known: Account | null = account()) {
  const tokens = new Map<string, ResetTokenState & { id: string }>();
  const audits: Array<Record<string, unknown>> = [];
  const mails: Array<{ to: string; template: string; data: Record<string, unknown> }> = [];
  const store = new MemoryThrottleStore(Date.now());
  const state = {
    account: known,
    revoked: [] as string[],
    sessionsEnded: [] as string[],
    spentAll: [] as string[],
    lookups: 0,
    lockOnSecondRead: false,
    reads: 0,
    failTransaction: false,
  };
  const repositories = {
    accounts: {
      findByEmail: async (email: string) => (state.account && email === state.account.email ? state.account : null),
      findById: async (id: string) => {
        state.reads += 1;
        if (state.lockOnSecondRead && state.reads > 1 && state.account) state.account = { ...state.account, status: 'locked' };
        return state.account?.id === id ? state.account : null;
      },
      setPasswordHash: async (_id: string, passwordHash: string) => void (state.account = { ...state.account!, passwordHash }),
      setSessionsNotBefore: async (id: string) => void state.sessionsEnded.push(id),
    },
    resetTokens: {
      insert: async (row: {
        id: string;
        accountId: string;
        tokenHash: string;
        interactionUid: string | null;
        clientId: string | null;
        schoolId: string | null;
        expiresAt: Date;
      }) =>
        void tokens.set(row.tokenHash, {
          id: row.id,
          accountId: row.accountId,
          interactionUid: row.interactionUid,
          clientId: row.clientId,
          schoolId: row.schoolId,
          expiresAt: row.expiresAt,
          usedAt: null,
        }),
      findByHash: async (hash: string) => (state.lookups++, tokens.get(hash) ?? null),
      spend: async (hash: string) => {
        const token = tokens.get(hash);
        if (!token || token.usedAt) return null;
        token.usedAt = new Date();
        return { accountId: token.accountId, interactionUid: token.interactionUid };
      },
      spendAllFor: async (accountId: string) => void state.spentAll.push(accountId),
    },
    oidcPayloads: {
      revokeAccount: async (accountId: string) => {
        state.revoked.push(accountId);
        return [];
      },
    },
  } as unknown as Repositories;
  const transaction: UnitOfWork = async (work) => {
    if (state.failTransaction) throw new Error('connection reset');
    return work(repositories);
  };
  const service = new PasswordResetService(
    repositories,
    transaction,
    {
      send: async (message: { to: string; template: string; data: Record<string, unknown> }) => void mails.push(message),
      close: () => {},
    } as never,
    new ThrottleService(store, async () => {}, store.clock),
    { record: async (event: Record<string, unknown>) => void audits.push(event) } as never,
    { issuer: 'https://sso.example', tokenTtlSeconds: 3600, logger: pino({ level: 'silent' }) },
  );
  const tokenIn = (mail: { data: Record<string, unknown> }) => new URL(String(mail.data.link)).searchParams.get('token')!;
  return { service, tokens, audits, mails, state, store, tokenIn };
}

describe('asking for a password email', () => {
  test('an active account gets a link built from ISSUER, good for the configured time; only its hash is kept', async () => {
    const { service, tokens, mails, audits, tokenIn } = resetWorld();
    const before = Date.now();
    await service.request('staff@hill.example', 'interaction-1', where);
    expect(mails).toHaveLength(1);
    expect(mails[0]).toMatchObject({
      to: 'staff@hill.example',
      template: 'password-reset',
      data: { name: 'Staff', email: 'staff@hill.example', lifetime: 60 },
    });
    expect(String(mails[0]!.data.link)).toMatch(/^https:\/\/sso\.example\/password\/reset\?token=[\w-]{43}$/);
    const stored = tokens.get(hashResetToken(tokenIn(mails[0]!)))!;
    expect(stored).toMatchObject({ accountId: 'acc-1', interactionUid: 'interaction-1', usedAt: null });
    expect(stored.expiresAt.getTime()).toBeGreaterThanOrEqual(before + 3600_000);
    expect(stored.expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + 3600_000);
    expect(audits).toEqual([
      { event: 'password_reset.request', email: 'staff@hill.example', ip: where.ip, accountId: 'acc-1', outcome: 'success' },
    ]);
    expect(service.lifetimeMinutes).toBe(60);
  });

  test('a locked account or an unknown address gets no mail, audited with the reason', async () => {
    const locked = resetWorld(account({ status: 'locked' }));
    await locked.service.request('staff@hill.example', null, where);
    expect(locked.mails).toEqual([]);
    expect(locked.tokens.size).toBe(0);
    expect(locked.audits).toEqual([
      {
        event: 'password_reset.request',
        email: 'staff@hill.example',
        ip: where.ip,
        accountId: 'acc-1',
        outcome: 'failure',
        reason: 'locked',
      },
    ]);
    const unknown = resetWorld(null);
    await unknown.service.request('nobody@hill.example', null, where);
    expect(unknown.mails).toEqual([]);
    expect(unknown.audits).toEqual([
      {
        event: 'password_reset.request',
        email: 'nobody@hill.example',
        ip: where.ip,
        accountId: undefined,
        outcome: 'failure',
        reason: 'unknown_address',
      },
    ]);
  });

  test(`past ${THROTTLE.resetEmailsPerAddress} emails in 15 minutes none is sent, and that is audited`, async () => {
    const { service, mails, audits } = resetWorld();
    for (let i = 0; i < THROTTLE.resetEmailsPerAddress + 1; i += 1) await service.request('staff@hill.example', null, where);
    expect(mails).toHaveLength(THROTTLE.resetEmailsPerAddress);
    expect(audits.at(-1)).toEqual({
      event: 'password_reset.request',
      email: 'staff@hill.example',
      ip: where.ip,
      accountId: 'acc-1',
      outcome: 'failure',
      reason: 'throttled',
    });
  });

  test('requests in the background finish before drain resolves; a failure is logged, not thrown', async () => {
    const { service, mails } = resetWorld();
    service.requestInBackground('staff@hill.example', null, where);
    expect(mails).toHaveLength(0);
    await service.drain();
    expect(mails).toHaveLength(1);
    const broken = resetWorld();
    (broken.service as unknown as { repositories: Repositories }).repositories.accounts.findByEmail = async () => {
      throw new Error('database down');
    };
    broken.service.requestInBackground('staff@hill.example', null, where);
    await expect(broken.service.drain()).resolves.toBeUndefined();
  });
});

describe('the reset form', () => {
  test('a link that is not 43 base64url characters is unknown without a lookup', async () => {
    const { service, state } = resetWorld();
    expect(await service.inspect('short')).toEqual({ valid: false, reason: UNKNOWN });
    expect(await service.inspect(`${newResetToken().token}x`)).toEqual({ valid: false, reason: UNKNOWN });
    expect(state.lookups).toBe(0);
    expect(await service.inspect(newResetToken().token)).toEqual({ valid: false, reason: UNKNOWN });
    expect(state.lookups).toBe(1);
  });

  test('a weak password, or two that differ, set nothing and keep the link', async () => {
    const { service, mails, state, tokens, tokenIn } = resetWorld();
    await service.request('staff@hill.example', null, where);
    const token = tokenIn(mails[0]!);
    expect(await service.complete(token, 'short', 'short', where)).toMatchObject({ done: false, field: 'password' });
    expect(await service.complete(token, PASSWORD, `${PASSWORD}!`, where)).toEqual({
      done: false,
      field: 'confirm',
      message: 'The two passwords are not the same.',
    });
    expect(state.account!.passwordHash).toBeNull();
    expect(tokens.get(hashResetToken(token))!.usedAt).toBeNull();
  });

  test('a good password is set, every link of the account spent, every session ended, and the person told', async () => {
    const { service, mails, state, audits, tokenIn } = resetWorld();
    await service.request('staff@hill.example', 'interaction-1', where);
    const token = tokenIn(mails[0]!);
    expect(await service.complete(token, PASSWORD, PASSWORD, where)).toEqual({ done: true, interactionUid: 'interaction-1' });
    expect(state.account!.passwordHash).toMatch(/^\$argon2id\$/);
    expect(state.spentAll).toEqual(['acc-1']);
    expect(state.revoked).toEqual(['acc-1']);
    expect(state.sessionsEnded).toEqual(['acc-1']);
    expect(mails.at(-1)).toMatchObject({
      to: 'staff@hill.example',
      template: 'password-changed',
      data: { name: 'Staff', email: 'staff@hill.example', changedAt: expect.any(Date) },
    });
    expect(audits.at(-1)).toEqual({
      event: 'password_reset.complete',
      outcome: 'success',
      accountId: 'acc-1',
      email: 'staff@hill.example',
      ip: where.ip,
    });
    expect(await service.complete(token, PASSWORD, PASSWORD, where)).toEqual({ done: false, field: 'token', message: USED });
    expect(audits.at(-1)).toEqual({ event: 'password_reset.complete', outcome: 'failure', reason: USED, ip: where.ip });
  });
});

describe('completing a reset when things change underneath', () => {
  test('an account locked while the password was hashed: refused as an unknown link, and audited', async () => {
    const { service, mails, state, audits, tokenIn } = resetWorld();
    await service.request('staff@hill.example', null, where);
    state.reads = 0;
    state.lockOnSecondRead = true;
    expect(await service.complete(tokenIn(mails[0]!), PASSWORD, PASSWORD, where)).toEqual({
      done: false,
      field: 'token',
      message: UNKNOWN,
    });
    expect(audits.at(-1)).toEqual({ event: 'password_reset.complete', outcome: 'failure', reason: UNKNOWN, ip: where.ip });
    expect(state.revoked).toEqual([]);
    expect(state.sessionsEnded).toEqual([]);
  });

  test('a database failure is an error, not a message about the link', async () => {
    const { service, mails, state, tokenIn } = resetWorld();
    await service.request('staff@hill.example', null, where);
    state.failTransaction = true;
    await expect(service.complete(tokenIn(mails[0]!), PASSWORD, PASSWORD, where)).rejects.toThrow('connection reset');
  });

  test('an unknown address past its email cap is audited without an account', async () => {
    const { service, audits } = resetWorld(null);
    for (let i = 0; i < THROTTLE.resetEmailsPerAddress + 1; i += 1) await service.request('nobody@hill.example', null, where);
    expect(audits.at(-1)).toEqual({
      event: 'password_reset.request',
      email: 'nobody@hill.example',
      ip: where.ip,
      accountId: undefined,
      outcome: 'failure',
      reason: 'throttled',
    });
  });
});

describe('the helpdesk: lock and unlock', () => {
  function accountWorld() {
    const store = new MemoryThrottleStore();
    const state = {
      status: 'active' as Account['status'],
      revoked: [] as string[],
      sessionsEnded: [] as string[],
      memberships: [] as string[][],
    };
    const repositories = {
      accounts: {
        findByEmail: async (email: string) => (email === 'staff@hill.example' ? account({ status: state.status }) : null),
        setStatus: async (_id: string, status: Account['status']) => void (state.status = status),
        setSessionsNotBefore: async (id: string) => void state.sessionsEnded.push(id),
        insert: async (row: { id: string; email: string; name: string | null }) => account({ ...row, emailNormalised: row.email }),
      },
      oidcPayloads: {
        revokeAccount: async (accountId: string) => {
          state.revoked.push(accountId);
          return [];
        },
      },
      throttle: store,
      schools: {
        findByIds: async (ids: string[]) =>
          ids.filter((id) => id === 's-a').map((id) => ({ id, name: 'Ash', postcode: 'X', createdAt: new Date(0) })),
      },
      memberships: { upsert: async (...args: string[]) => void state.memberships.push(args) },
    } as unknown as Repositories;
    const transaction: UnitOfWork = async (work) => work(repositories);
    return { service: new AccountService(repositories, transaction), state, store };
  }

  test('locking ends every session; unlocking lifts the guessing locks of both factors', async () => {
    const { service, state, store } = accountWorld();
    const locked = await service.setStatus('staff@hill.example', 'locked');
    expect(locked).toMatchObject({ id: 'acc-1', status: 'locked', released: 0 });
    expect(state.revoked).toEqual(['acc-1']);
    expect(state.sessionsEnded).toEqual(['acc-1']);
    await store.countStreak('password:account:acc-1');
    await store.countStreak('code:account:acc-1');
    const unlocked = await service.setStatus('staff@hill.example', 'active');
    expect(unlocked).toMatchObject({ status: 'active', released: 2 });
    expect(state.revoked).toEqual(['acc-1']);
    expect(state.sessionsEnded).toEqual(['acc-1']);
    await expect(service.setStatus('nobody@hill.example', 'locked')).rejects.toThrow(
      'No account has the email address nobody@hill.example.',
    );
  });

  test('adding a user needs existing schools; an existing address gets the memberships, no new account', async () => {
    const { service, state } = accountWorld();
    const added = await service.addUser({
      email: 'new@hill.example',
      name: 'New',
      memberships: [{ schoolId: 's-a', accessLevel: 'higher' }],
    });
    expect(added).toMatchObject({ email: 'new@hill.example', name: 'New' });
    expect(added.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(state.memberships).toEqual([[added.id, 's-a', 'higher']]);
    const existing = await service.addUser({ email: 'staff@hill.example', memberships: [{ schoolId: 's-a', accessLevel: 'basic' }] });
    expect(existing.id).toBe('acc-1');
    await expect(service.addUser({ email: 'x@hill.example', memberships: [{ schoolId: 's-zz', accessLevel: 'basic' }] })).rejects.toThrow(
      'No school has the id s-zz.',
    );
    expect(await service.findByEmail('staff@hill.example')).toMatchObject({ id: 'acc-1' });
  });
});
