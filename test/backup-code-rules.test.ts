import crypto from 'node:crypto';
import pino from 'pino';
import { SecretBox } from '../src/auth/secret-box.ts';
import { accountSubject, THROTTLE, ThrottleService } from '../src/auth/throttle.ts';
import type { Account } from '../src/db/entities/index.ts';
import type { Repositories } from '../src/db/repositories/index.ts';
import { AuthenticationService } from '../src/domain/authentication.ts';
import type { AuthenticatorService } from '../src/domain/authenticators.ts';
import {
  BACKUP_CODE_ALPHABET,
  BACKUP_CODE_COUNT,
  BackupCodeService,
  formatBackupCode,
  normaliseBackupCode,
  voidBackupCodesWithoutSecondFactor,
} from '../src/domain/backup-codes.ts';
import { FreshProofService } from '../src/domain/fresh-proof.ts';
import { accountFixture } from './support/accounts.ts';
import { MemoryThrottleStore } from './support/memory-throttle.ts';

/**
 * Unit tests of the backup code rules over in-memory repositories: the codes' shape, how they
 * are kept, what a spend touches, the shared code throttle, and "confirm it's you" taking one.
 * test/backup-codes.test.ts and test/backup-codes.browser.test.ts run the same rules end to end.
 */

const where = { ip: '203.0.113.10', clientId: 'client-1', language: 'cy' as const, schoolName: 'Ysgol Penglais' };

/** A code store in memory, as the repository behaves: sets replace sets, a code is spent once. */
function codeWorld(options: { secondFactors?: number; key?: Buffer; failMail?: boolean } = {}) {
  const rows = new Map<string, Array<{ hash: string; used: boolean }>>();
  const calls: string[] = [];
  const mails: Array<Record<string, unknown>> = [];
  const audits: Array<Record<string, unknown>> = [];
  const errors: unknown[] = [];
  const backupCodes = {
    lockAccount: async () => void calls.push('lockAccount'),
    replaceAll: async (accountId: string, hashes: string[]) => {
      calls.push('replaceAll');
      rows.set(
        accountId,
        hashes.map((hash) => ({ hash, used: false })),
      );
    },
    spend: async (accountId: string, hash: string) => {
      calls.push('spend');
      const row = rows.get(accountId)?.find((candidate) => candidate.hash === hash && !candidate.used);
      if (row) row.used = true;
      return Boolean(row);
    },
    summary: async (accountId: string) => ({
      left: (rows.get(accountId) ?? []).filter((row) => !row.used).length,
      createdAt: rows.has(accountId) ? new Date(0) : null,
    }),
  };
  const repositories = {
    backupCodes,
    authenticators: { countSecondFactors: async () => options.secondFactors ?? 1 },
  } as unknown as Repositories;
  const logger = pino({ level: 'silent' });
  logger.error = ((...args: unknown[]) => void errors.push(args)) as never;
  const service = new BackupCodeService({
    repositories,
    transaction: async (work) => {
      calls.push('transaction');
      return work(repositories);
    },
    box: new SecretBox(options.key ?? Buffer.alloc(32, 7)),
    mailer: {
      send: async (message: Record<string, unknown>) => {
        if (options.failMail) throw new Error('smtp down');
        mails.push(message);
      },
    } as never,
    logger,
    audit: { record: async (event: Record<string, unknown>) => void audits.push(event) } as never,
  });
  return { service, rows, calls, mails, audits, errors };
}

const account = (id = 'acc-1') => accountFixture({ id, email: `${id}@hill.example` });

describe('the codes', () => {
  test('ten different codes of ten characters from the unambiguous alphabet, shown as two groups of five', async () => {
    expect(BACKUP_CODE_COUNT).toBe(10);
    expect(BACKUP_CODE_ALPHABET).toBe('abcdefghjkmnpqrstuvwxyz23456789');
    for (const confusable of '01ilo') expect(BACKUP_CODE_ALPHABET).not.toContain(confusable);
    const { service } = codeWorld();
    const seen = new Set<string>();
    for (let i = 0; i < 20; i += 1) {
      const codes = await service.create(account(), where);
      expect(codes).toHaveLength(BACKUP_CODE_COUNT);
      expect(new Set(codes).size).toBe(BACKUP_CODE_COUNT);
      for (const code of codes) {
        expect(code).toMatch(/^[a-hjkmnp-z2-9]{5}-[a-hjkmnp-z2-9]{5}$/);
        seen.add(code);
      }
    }
    // Drawn from the whole alphabet, every time anew.
    expect(seen.size).toBe(20 * BACKUP_CODE_COUNT);
    const used = new Set([...seen].join('').replace(/-/g, ''));
    expect([...used].sort().join('')).toBe([...BACKUP_CODE_ALPHABET].sort().join(''));
  });

  test('typed as people type them: any case, spaces and hyphens anywhere; anything else is not a code', () => {
    expect(normaliseBackupCode('abcde-23456')).toBe('abcde23456');
    expect(normaliseBackupCode(' ABCDE 23456 ')).toBe('abcde23456');
    expect(normaliseBackupCode('ab-cd-e2-34-56')).toBe('abcde23456');
    expect(normaliseBackupCode('abcde\t23456\n')).toBe('abcde23456');
    for (const typed of [
      '',
      'abcde-2345',
      'abcde-234567',
      'abcde-2345o',
      'abcde-23450',
      'abcde-2345l',
      'abcde-23451',
      'abcde-2345i',
      'abcde_23456',
      'ａｂｃｄｅ２３４５６',
      'abcdé-23456',
      'İbcde-23456',
      `abcde${' '.repeat(60)}23456`,
      '123456',
    ]) {
      expect({ typed, code: normaliseBackupCode(typed) }).toEqual({ typed, code: null });
    }
    expect(formatBackupCode('abcde23456')).toBe('abcde-23456');
    // However it is spaced out, up to 64 characters as typed; past that nothing is even looked at.
    expect(normaliseBackupCode(`abcde${' '.repeat(54)}23456`)).toBe('abcde23456');
    expect(normaliseBackupCode(`abcde${' '.repeat(55)}23456`)).toBeNull();
  });
});

describe('codes live only while the account has a second factor', () => {
  const world = (secondFactors: number) => {
    const calls: string[] = [];
    const repositories = {
      backupCodes: {
        lockAccount: async () => void calls.push('lock'),
        deleteAllFor: async () => {
          calls.push('delete');
          return 7;
        },
      },
      authenticators: {
        countSecondFactors: async () => {
          calls.push('count');
          return secondFactors;
        },
      },
    } as unknown as Repositories;
    return { repositories, calls };
  };

  test('when the last device or passkey goes, the codes go: counted under the account’s lock, the unused ones reported', async () => {
    const { repositories, calls } = world(0);
    expect(await voidBackupCodesWithoutSecondFactor(repositories, 'acc-1')).toBe(7);
    expect(calls).toEqual(['lock', 'count', 'delete']);
  });

  test('while one is left, nothing is voided', async () => {
    const { repositories, calls } = world(1);
    expect(await voidBackupCodesWithoutSecondFactor(repositories, 'acc-1')).toBe(0);
    expect(calls).toEqual(['lock', 'count']);
  });
});

describe('keeping and spending them', () => {
  test('kept only as HMAC-SHA256 under the key store’s derived key, over the account and the code', async () => {
    const key = Buffer.alloc(32, 9);
    const { service, rows } = codeWorld({ key });
    const codes = await service.create(account('acc-1'), where);
    const derived = new SecretBox(key).deriveKey('backup-codes');
    const expected = codes.map((code) =>
      crypto
        .createHmac('sha256', derived)
        .update(`acc-1:${code.replace('-', '')}`)
        .digest('base64url'),
    );
    expect(rows.get('acc-1')!.map((row) => row.hash)).toEqual(expected);
    for (const hash of expected) expect(hash).toHaveLength(43);
  });

  test('a stolen table is no use on another account, nor without the key store’s key', async () => {
    const world = codeWorld({ key: Buffer.alloc(32, 1) });
    const codes = await world.service.create(account('acc-1'), where);
    const copy = () => world.rows.get('acc-1')!.map((row) => ({ ...row }));
    // acc-1's stored set, put under acc-2: acc-1's codes do not work there.
    world.rows.set('acc-2', copy());
    expect(await world.service.spend(account('acc-2'), codes[0]!)).toBeNull();
    // The same set in a store whose key differs: none of the codes works.
    const other = codeWorld({ key: Buffer.alloc(32, 2) });
    other.rows.set('acc-1', copy());
    expect(await other.service.spend(account('acc-1'), codes[0]!)).toBeNull();
    expect(await world.service.spend(account('acc-1'), codes[0]!)).toEqual({ left: 9 });
  });

  test('a new set replaces the old in one transaction, is audited and mailed in the page’s language from its school', async () => {
    const { service, calls, audits, mails, rows } = codeWorld();
    const old = await service.create(account(), where);
    calls.length = 0;
    const renewed = await service.create(account(), where);
    // The account is locked before anything is read, and the set is written under that lock.
    expect(calls).toEqual(['transaction', 'lockAccount', 'replaceAll']);
    expect(rows.get('acc-1')).toHaveLength(10);
    expect(await service.spend(account(), old[0]!)).toBeNull();
    expect(await service.spend(account(), renewed[0]!)).toEqual({ left: 9 });
    expect(audits.at(-1)).toEqual({
      event: 'backup_codes.create',
      outcome: 'success',
      accountId: 'acc-1',
      email: 'acc-1@hill.example',
      clientId: 'client-1',
      ip: '203.0.113.10',
      detail: { count: 10 },
    });
    expect(mails.at(-1)).toMatchObject({
      to: 'acc-1@hill.example',
      template: 'backup-codes-created',
      language: 'cy',
      schoolName: 'Ysgol Penglais',
      data: { name: 'Staff', email: 'acc-1@hill.example' },
    });
    expect((mails.at(-1)!.data as { when: unknown }).when).toBeInstanceOf(Date);
    // Nothing of a code is in what is audited or mailed.
    expect(JSON.stringify([audits, mails])).not.toMatch(new RegExp(renewed.map((code) => code.slice(0, 5)).join('|')));
  });

  test('an account with no device and no passkey gets no codes, and nothing is written', async () => {
    const { service, calls, audits, mails } = codeWorld({ secondFactors: 0 });
    await expect(service.create(account(), where)).rejects.toMatchObject({
      kind: 'validation',
      words: { key: 'recovery.section.needSecondFactor' },
    });
    // Counted under the lock, in the transaction that would write (a factor removed meanwhile is seen).
    expect([calls, audits, mails]).toEqual([['transaction', 'lockAccount'], [], []]);
  });

  test('a new set names the set it replaces: a page older than the current set gets a conflict, and nothing is written', async () => {
    const { service, calls, audits } = codeWorld();
    const first = await service.create(account(), where, 'none');
    expect(first).toHaveLength(10);
    calls.length = 0;
    await expect(service.create(account(), where, 'none')).rejects.toMatchObject({
      kind: 'conflict',
      words: { key: 'recovery.create.alreadyShown' },
    });
    expect(calls).toEqual(['transaction', 'lockAccount']);
    expect(audits).toHaveLength(1);
    // The codes' world says every set was made at the epoch: naming it replaces it.
    expect(await service.create(account(), where, '0')).toHaveLength(10);
  });

  test('a code is spent once; anything that is not a code is refused without asking the database', async () => {
    const { service, calls } = codeWorld();
    const codes = await service.create(account(), where);
    calls.length = 0;
    for (const typed of ['', 'x'.repeat(1000), 'abcde-0o1il', '😀😀😀😀😀-😀😀😀😀😀'])
      expect(await service.spend(account(), typed)).toBeNull();
    expect(calls).toEqual([]);
    expect(await service.spend(account(), codes[2]!.toUpperCase().replace('-', ' '))).toEqual({ left: 9 });
    expect(await service.spend(account(), codes[2]!)).toBeNull();
    expect(await service.spend(account('acc-2'), codes[3]!)).toBeNull();
    expect(await service.spend(account(), codes[3]!)).toEqual({ left: 8 });
  });

  test('the mail that a code was used says how many are left; a mail that cannot be sent is logged, not thrown', async () => {
    const { service, mails } = codeWorld();
    await service.notifyUsed(account(), 0, where);
    expect(mails).toEqual([
      expect.objectContaining({
        template: 'backup-code-used',
        language: 'cy',
        schoolName: 'Ysgol Penglais',
        data: expect.objectContaining({ left: 0 }),
      }),
    ]);
    const failing = codeWorld({ failMail: true });
    await expect(failing.service.notifyUsed(account(), 3, where)).resolves.toBeUndefined();
    expect(failing.errors).toHaveLength(1);
  });
});

describe('checking a backup code (AuthenticationService over an in-memory throttle)', () => {
  function authWorld() {
    const known = account();
    const store = new MemoryThrottleStore();
    const throttle = new ThrottleService(store, async () => {}, store.clock);
    const audits: Array<Record<string, unknown>> = [];
    const spent: string[] = [];
    const used: number[] = [];
    let left = 10;
    const backupCodes = {
      spend: async (_account: Account, code: string) => (code === 'right' ? (spent.push(code), { left: (left -= 1) }) : null),
      isUnused: async (_account: Account, code: string) => code === 'right',
      notifyUsed: async (_account: Account, count: number) => void used.push(count),
    };
    const authenticators = {
      verifyCode: async (_id: string, code: string) => (code === '123456' ? 'dev-1' : null),
    } as unknown as AuthenticatorService;
    const service = new AuthenticationService(
      { accounts: { findByEmail: async () => null } } as unknown as Repositories,
      throttle,
      authenticators,
      { record: async (event: Record<string, unknown>) => void audits.push(event) } as never,
      { send: async () => {} } as never,
      pino({ level: 'silent' }),
      undefined,
      backupCodes,
    );
    return { service, known, store, audits, spent, used };
  }

  test('a right code passes like an authenticator code, says how many are left, is audited and mailed', async () => {
    const { service, known, audits, used } = authWorld();
    expect(await service.checkBackupCode(known, 'right', where)).toEqual({ ok: true, account: known, trustBrowser: true, left: 9 });
    expect(audits).toEqual([
      expect.objectContaining({ event: 'sign_in.backup_code', outcome: 'success', accountId: 'acc-1', detail: { left: 9 } }),
    ]);
    expect(used).toEqual([9]);
    expect(await service.checkBackupCode(known, 'wrong', where)).toEqual({ ok: false, reason: 'invalid' });
    expect(audits.at(-1)).toEqual(
      expect.objectContaining({ event: 'sign_in.backup_code', outcome: 'failure', reason: 'invalid', detail: undefined }),
    );
    expect(used).toEqual([9]);
  });

  test('wrong backup codes and wrong authenticator codes use one budget: per account, apart from passwords', async () => {
    const { service, known, store, spent } = authWorld();
    for (let i = 0; i < THROTTLE.lockAfter - 1; i += 1) {
      const check = i % 2 ? service.checkCode(known, '000000', where) : service.checkBackupCode(known, 'wrong', where);
      expect(await check).toEqual({ ok: false, reason: 'invalid' });
    }
    expect(await service.checkBackupCode(known, 'wrong', where)).toMatchObject({ ok: false, reason: 'throttled' });
    // A pause holds for both kinds, right answers included, and spends nothing.
    expect(await service.checkBackupCode(known, 'right', where)).toMatchObject({ ok: false, reason: 'throttled' });
    expect(await service.checkCode(known, '123456', where)).toMatchObject({ ok: false, reason: 'throttled' });
    expect(spent).toEqual([]);
    const streaks = await store.readStreaks([`code:${accountSubject('acc-1')}`, `password:${accountSubject('acc-1')}`]);
    expect(streaks.get(`code:${accountSubject('acc-1')}`)?.count).toBe(THROTTLE.lockAfter);
    expect(streaks.has(`password:${accountSubject('acc-1')}`)).toBe(false);
  });

  test('a locked account keeps its codes: a right one is refused as locked, unspent and unmailed; a wrong one still counts', async () => {
    const { service, known, store, audits, spent, used } = authWorld();
    const locked = { ...known, status: 'locked' as const };
    const streak = async () => (await store.readStreaks([`code:${accountSubject('acc-1')}`])).get(`code:${accountSubject('acc-1')}`)?.count;
    expect(await service.checkBackupCode(locked, 'wrong', where)).toEqual({ ok: false, reason: 'invalid' });
    expect(await streak()).toBe(1);
    // Right is right, as for a password: the run of failures ends, and then the lock refuses.
    expect(await service.checkBackupCode(locked, 'right', where)).toEqual({ ok: false, reason: 'locked' });
    expect(await streak()).toBeUndefined();
    expect([spent, used]).toEqual([[], []]);
    expect(audits.at(-1)).toEqual(expect.objectContaining({ outcome: 'failure', reason: 'locked', detail: undefined }));
  });

  test('a right backup code clears the code counters, as a right authenticator code does', async () => {
    const { service, known, store } = authWorld();
    for (let i = 0; i < 3; i += 1) await service.checkCode(known, '000000', where);
    await service.checkBackupCode(known, 'right', where);
    const streaks = await store.readStreaks([`code:${accountSubject('acc-1')}`]);
    expect(streaks.size).toBe(0);
  });
});

describe('"confirm it’s you" takes a backup code in the code field', () => {
  test('a backup code goes to the backup code check, a 6-digit code to the authenticator check; either is proof of the code', async () => {
    const calls: string[] = [];
    const recorded: unknown[][] = [];
    const authentication = {
      checkPasswordOf: async () => ({ ok: true }),
      checkCode: async (_a: Account, code: string) => (
        calls.push(`code:${code}`), { ok: code === '123456', deviceId: 'd1', reason: 'invalid' }
      ),
      checkBackupCode: async (_a: Account, code: string) => (
        calls.push(`backup:${code}`), { ok: code === 'ABCDE 23456', left: 4, reason: 'invalid' }
      ),
    };
    const repositories = {
      authenticators: { countSecondFactors: async () => 1 },
      sessionProofs: { record: async (...args: unknown[]) => void recorded.push(args.slice(0, 4)) },
    } as unknown as Repositories;
    const proof = new FreshProofService(repositories, authentication as never);
    const session = { sessionUid: 'sess-1', accountId: 'acc-1', loginTs: undefined };
    const confirm = (code: string) => proof.confirm(account(), session, 'password', code, where);

    expect(await confirm('ABCDE 23456')).toEqual({ ok: true });
    expect(recorded).toEqual([
      ['sess-1', 'acc-1', 'password', null],
      ['sess-1', 'acc-1', 'code', null],
    ]);
    expect(await confirm('123456')).toEqual({ ok: true });
    expect(recorded.at(-1)).toEqual(['sess-1', 'acc-1', 'code', 'd1']);
    expect(await confirm('abcde-2345')).toMatchObject({ ok: false, field: 'code' });
    expect(calls).toEqual(['backup:ABCDE 23456', 'code:123456', 'code:abcde-2345']);
  });
});
