import argon2 from 'argon2';
import pino from 'pino';
import { accountSubject, passwordSubject, THROTTLE, ThrottleService } from '../src/auth/throttle.ts';
import type { Account, School } from '../src/db/entities/index.ts';
import type { Repositories } from '../src/db/repositories/index.ts';
import type { SchoolMembership } from '../src/db/repositories/memberships.ts';
import {
  AccessService,
  AMR_PASSWORD,
  AMR_PASSWORD_AND_CODE,
  bothFactorsAtOnce,
  effectiveAccessLevel,
  passedSecondFactor,
  passkeyAmr,
} from '../src/domain/access.ts';
import { AuthenticationService } from '../src/domain/authentication.ts';
import type { AuthenticatorService } from '../src/domain/authenticators.ts';
import { FRESH_PROOF_SECONDS, FreshProofService } from '../src/domain/fresh-proof.ts';
import { MemoryThrottleStore } from './support/memory-throttle.ts';
import { accountFixture } from './support/accounts.ts';

/**
 * Unit tests of the access levels (rules 2, 4, 5), the fresh-proof window and the credential
 * checks, over in-memory repositories. The end-to-end tests on real PostgreSQL and Chromium
 * (oidc-flow, authenticator, fresh-proof, throttle) stay; these make each rule fail alone.
 */

const school = (id: string, name = `School ${id}`): School => ({ id, name, postcode: 'AB1 2CD', createdAt: new Date(0) });
const A = school('s-a', 'Ash');
const B = school('s-b', 'Birch');
const account = accountFixture;

type World = {
  devices: number;
  atClient: SchoolMembership[];
  all: SchoolMembership[];
  grants: Map<string, string>;
  clientSchools: School[];
  loginUris: Map<string, string>;
};

function accessOver(world: Partial<World> = {}) {
  const w: World = { devices: 0, atClient: [], all: [], grants: new Map(), clientSchools: [], loginUris: new Map(), ...world };
  const repositories = {
    authenticators: { countSecondFactors: async () => w.devices },
    memberships: { listAtClientSchools: async () => w.atClient, listForAccount: async () => w.all },
    grantSchools: {
      get: async (grantId: string) => w.grants.get(grantId) ?? null,
      set: async (grantId: string, schoolId: string) => void w.grants.set(grantId, schoolId),
    },
    clientSchools: { schoolsOf: async () => w.clientSchools },
    clientLoginUris: { bySchool: async (ids: string[]) => new Map([...w.loginUris].filter(([id]) => ids.includes(id))) },
  } as unknown as Repositories;
  return { access: new AccessService(repositories), world: w };
}

describe('access levels', () => {
  test('a code was passed only when amr holds otp', () => {
    expect(passedSecondFactor(['pwd', 'otp'])).toBe(true);
    expect(passedSecondFactor(AMR_PASSWORD_AND_CODE)).toBe(true);
    expect(passedSecondFactor(AMR_PASSWORD)).toBe(false);
    expect(passedSecondFactor(undefined)).toBe(false);
    expect(AMR_PASSWORD).toEqual(['pwd']);
    expect(AMR_PASSWORD_AND_CODE).toEqual(['pwd', 'otp', 'mfa']);
  });

  test('a second factor is a code (otp) or a passkey (hwk, swk); the password, user verification or mfa alone are not', () => {
    for (const amr of [['pwd', 'hwk', 'mfa'], ['swk', 'user', 'mfa'], ['otp']])
      expect({ amr, passed: passedSecondFactor(amr) }).toEqual({ amr, passed: true });
    for (const amr of [['pwd', 'mfa'], ['user'], ['pwd', 'user'], []])
      expect({ amr, passed: passedSecondFactor(amr) }).toEqual({ amr, passed: false });
  });

  test('both factors at once: a passkey with user verification and no password; never a code, a password first, or no verification', () => {
    expect(bothFactorsAtOnce(['hwk', 'user', 'mfa'])).toBe(true);
    expect(bothFactorsAtOnce(['swk', 'user', 'mfa'])).toBe(true);
    expect(bothFactorsAtOnce(['pwd', 'hwk', 'user', 'mfa'])).toBe(false);
    expect(bothFactorsAtOnce(['hwk', 'mfa'])).toBe(false);
    expect(bothFactorsAtOnce(['user'])).toBe(false);
    expect(bothFactorsAtOnce(['user', 'pwd'])).toBe(false);
    expect(bothFactorsAtOnce(AMR_PASSWORD_AND_CODE)).toBe(false);
    expect(bothFactorsAtOnce(undefined)).toBe(false);
  });

  test('a passkey’s amr: hwk or swk by backup eligibility, user when verified, pwd after a password, mfa whenever two factors were shown', () => {
    expect(passkeyAmr({ backupEligible: false, userVerified: true, afterPassword: false })).toEqual(['hwk', 'user', 'mfa']);
    expect(passkeyAmr({ backupEligible: true, userVerified: true, afterPassword: false })).toEqual(['swk', 'user', 'mfa']);
    expect(passkeyAmr({ backupEligible: false, userVerified: true, afterPassword: true })).toEqual(['pwd', 'hwk', 'user', 'mfa']);
    expect(passkeyAmr({ backupEligible: true, userVerified: false, afterPassword: true })).toEqual(['pwd', 'swk', 'mfa']);
    // Possession alone, no password and no verification: one factor, not mfa (never offered: sign-in requires verification).
    expect(passkeyAmr({ backupEligible: false, userVerified: false, afterPassword: false })).toEqual(['hwk']);
  });

  test('rule 4: higher only for a higher membership in a session that passed a code', () => {
    expect(effectiveAccessLevel('higher', ['pwd', 'otp'])).toBe('higher');
    expect(effectiveAccessLevel('higher', ['pwd'])).toBe('basic');
    expect(effectiveAccessLevel('higher', undefined)).toBe('basic');
    expect(effectiveAccessLevel('basic', ['pwd', 'otp'])).toBe('basic');
  });

  test('rule 5: with a device, a password-only session needs a code; without one, or after a code, it does not', async () => {
    expect(await accessOver({ devices: 1 }).access.needsCode('acc-1', ['pwd'])).toBe(true);
    expect(await accessOver({ devices: 1 }).access.needsCode('acc-1', undefined)).toBe(true);
    expect(await accessOver({ devices: 1 }).access.needsCode('acc-1', ['pwd', 'otp'])).toBe(false);
    expect(await accessOver({ devices: 0 }).access.needsCode('acc-1', ['pwd'])).toBe(false);
  });

  test('a device can be added inside a sign-in only while the account has none', async () => {
    expect(await accessOver({ devices: 0 }).access.mayEnrolDuringSignIn('acc-1')).toBe(true);
    expect(await accessOver({ devices: 1 }).access.mayEnrolDuringSignIn('acc-1')).toBe(false);
  });

  test('the enrolment offer: a higher member at this client without a device, nobody else', async () => {
    const higher = [{ school: A, accessLevel: 'higher' as const }];
    const basic = [{ school: A, accessLevel: 'basic' as const }];
    expect(await accessOver({ atClient: higher, devices: 0 }).access.shouldOfferEnrolment('acc-1', 'c')).toBe(true);
    expect(await accessOver({ atClient: higher, devices: 1 }).access.shouldOfferEnrolment('acc-1', 'c')).toBe(false);
    expect(await accessOver({ atClient: basic, devices: 0 }).access.shouldOfferEnrolment('acc-1', 'c')).toBe(false);
    expect(
      await accessOver({ atClient: [...basic, { school: B, accessLevel: 'higher' }], devices: 0 }).access.shouldOfferEnrolment(
        'acc-1',
        'c',
      ),
    ).toBe(true);
  });

  test('rule 2: sign-in through a client only with a membership at a school it serves', async () => {
    expect(await accessOver({ atClient: [] }).access.canSignIn('acc-1', 'c')).toBe(false);
    expect(await accessOver({ atClient: [{ school: A, accessLevel: 'basic' }] }).access.canSignIn('acc-1', 'c')).toBe(true);
  });

  test('a client is named after its school only when it serves exactly one', async () => {
    expect(await accessOver({ clientSchools: [A] }).access.clientSchoolsName('c')).toBe('Ash');
    expect(await accessOver({ clientSchools: [A, B] }).access.clientSchoolsName('c')).toBeNull();
    expect(await accessOver({ clientSchools: [] }).access.clientSchoolsName('c')).toBeNull();
  });

  describe('several schools at one client', () => {
    const both: SchoolMembership[] = [
      { school: A, accessLevel: 'basic' },
      { school: B, accessLevel: 'higher' },
    ];

    test('the choice is asked until made, and only among the schools the client serves', async () => {
      const { access, world } = accessOver({ atClient: both });
      expect(await access.needsSchoolChoice('acc-1', 'c', 'g1')).toBe(true);
      expect(await access.needsSchoolChoice('acc-1', 'c', undefined)).toBe(true);
      expect(await access.chooseSchool('acc-1', 'c', 'g1', 's-elsewhere')).toBe(false);
      expect(world.grants.size).toBe(0);
      expect(await access.chooseSchool('acc-1', 'c', 'g1', 's-b')).toBe(true);
      expect(world.grants.get('g1')).toBe('s-b');
      expect(await access.needsSchoolChoice('acc-1', 'c', 'g1')).toBe(false);
      expect(await access.needsSchoolChoice('acc-1', 'c', 'g2')).toBe(true);
      expect(await accessOver({ atClient: [both[0]!] }).access.needsSchoolChoice('acc-1', 'c', 'g1')).toBe(false);
    });

    test('claims: the chosen school and its level (higher only after a code), else the first; every school with its login URI', async () => {
      const { access } = accessOver({
        atClient: both,
        all: both,
        grants: new Map([['g1', 's-b']]),
        loginUris: new Map([['s-a', 'https://ash.example/login']]),
      });
      const schools = [
        { id: 's-a', name: 'Ash', postcode: 'AB1 2CD', login_uri: 'https://ash.example/login' },
        { id: 's-b', name: 'Birch', postcode: 'AB1 2CD', login_uri: null },
      ];
      expect(await access.schoolClaims('acc-1', 'c', ['pwd', 'otp'], 'g1')).toEqual({
        school: { id: 's-b', name: 'Birch', postcode: 'AB1 2CD' },
        access_level: 'higher',
        schools,
        // The same, flat, for relying parties that cannot read objects in an array.
        school_id: 's-b',
        school_name: 'Birch',
        school_ids: ['s-a', 's-b'],
      });
      expect((await access.schoolClaims('acc-1', 'c', ['pwd'], 'g1')).access_level).toBe('basic');
      expect((await access.schoolClaims('acc-1', 'c', ['pwd', 'otp'], 'g-other')).school?.id).toBe('s-a');
      expect((await access.schoolClaims('acc-1', 'c', ['pwd', 'otp'])).school?.id).toBe('s-a');
      expect(await accessOver({ atClient: [], all: [] }).access.schoolClaims('acc-1', 'c', ['otp'])).toEqual({
        school: null,
        access_level: 'basic',
        schools: [],
        school_ids: [],
      });
    });

    test('a chosen school whose membership has ended falls back to the first', async () => {
      const { access } = accessOver({ atClient: [both[0]!], grants: new Map([['g1', 's-b']]) });
      expect((await access.currentSchool('acc-1', 'c', 'g1'))?.school.id).toBe('s-a');
    });
  });
});

describe('fresh proof for credential changes', () => {
  const NOW = Date.UTC(2026, 10, 26, 10, 0, 0);
  const session = { sessionUid: 'sess-1', accountId: 'acc-1', loginTs: undefined as number | undefined };
  const at = (secondsAgo: number) => new Date(NOW - secondsAgo * 1000);

  function proofWorld(devices: number, proofs: { passwordAt?: Date; codeAt?: Date; codeDeviceId?: string } = {}) {
    const recorded: unknown[][] = [];
    const repositories = {
      authenticators: { countSecondFactors: async () => devices },
      sessionProofs: {
        latest: async () => ({
          passwordAt: proofs.passwordAt ?? null,
          codeAt: proofs.codeAt ?? null,
          codeDeviceId: proofs.codeDeviceId ?? null,
        }),
        record: async (...args: unknown[]) => void recorded.push(args),
      },
    } as unknown as Repositories;
    return { repositories, recorded };
  }
  const check = (devices: number, proofs: Parameters<typeof proofWorld>[1], loginTs?: number) =>
    new FreshProofService(proofWorld(devices, proofs).repositories, {} as never).check({ ...session, loginTs }, NOW);

  test('the window is five minutes, to the second', async () => {
    expect(FRESH_PROOF_SECONDS).toBe(300);
    expect((await check(0, { passwordAt: at(300) })).fresh).toBe(true);
    expect((await check(0, { passwordAt: at(301) })).fresh).toBe(false);
    expect((await check(0, {})).fresh).toBe(false);
  });

  test('the password given at sign-in counts, as seconds since the epoch', async () => {
    expect((await check(0, {}, NOW / 1000 - 60)).fresh).toBe(true);
    expect((await check(0, {}, NOW / 1000 - 301)).fresh).toBe(false);
    expect((await check(0, { passwordAt: at(10) }, NOW / 1000 - 3600)).fresh).toBe(true);
  });

  test('with a device, a recent code is needed as well, and says which device gave it', async () => {
    expect(await check(1, { passwordAt: at(10) })).toEqual({ fresh: false, needsCode: true, codeDeviceId: null });
    expect(await check(1, { passwordAt: at(10), codeAt: at(400), codeDeviceId: 'd1' })).toEqual({
      fresh: false,
      needsCode: true,
      codeDeviceId: 'd1',
    });
    expect(await check(1, { passwordAt: at(10), codeAt: at(300), codeDeviceId: 'd1' })).toEqual({
      fresh: true,
      needsCode: true,
      codeDeviceId: 'd1',
    });
    expect(await check(1, { codeAt: at(10) })).toMatchObject({ fresh: false });
    expect(await check(0, { passwordAt: at(10) })).toEqual({ fresh: true, needsCode: false, codeDeviceId: null });
  });

  test('confirming: an empty password or (with a device) an empty code is refused before any check; a right pair is recorded', async () => {
    const calls: string[] = [];
    const authentication = {
      checkPasswordOf: async (_a: Account, password: string) => (
        calls.push(`pwd:${password}`), password === 'right' ? { ok: true } : { ok: false, reason: 'invalid' }
      ),
      checkCode: async (_a: Account, code: string) => (
        calls.push(`code:${code}`), code === '123456' ? { ok: true, deviceId: 'd1' } : { ok: false, reason: 'invalid' }
      ),
    };
    const confirm = async (devices: number, password: string, code: string) => {
      const { repositories, recorded } = proofWorld(devices);
      const result = await new FreshProofService(repositories, authentication as never).confirm(account(), session, password, code, {
        ip: '192.0.2.1',
      });
      return { result, recorded: recorded.map(([uid, accountId, factor, device]) => [uid, accountId, factor, device]) };
    };
    expect(await confirm(1, '', '123456')).toEqual({
      result: { ok: false, field: 'password', check: undefined, needsCode: true },
      recorded: [],
    });
    expect(await confirm(1, 'right', '  ')).toEqual({
      result: { ok: false, field: 'code', check: undefined, needsCode: true },
      recorded: [],
    });
    expect(calls).toEqual([]);
    expect(await confirm(1, 'wrong', '123456')).toEqual({
      result: { ok: false, field: 'password', check: { ok: false, reason: 'invalid' }, needsCode: true },
      recorded: [],
    });
    expect(calls).toEqual(['pwd:wrong']);
    expect(await confirm(1, 'right', '000000')).toEqual({
      result: { ok: false, field: 'code', check: { ok: false, reason: 'invalid' }, needsCode: true },
      recorded: [],
    });
    expect(await confirm(1, 'right', '123456')).toEqual({
      result: { ok: true },
      recorded: [
        ['sess-1', 'acc-1', 'password', null],
        ['sess-1', 'acc-1', 'code', 'd1'],
      ],
    });
    calls.length = 0;
    expect(await confirm(0, 'right', '')).toEqual({ result: { ok: true }, recorded: [['sess-1', 'acc-1', 'password', null]] });
    expect(calls).toEqual(['pwd:right']);
  });
});

describe('credential checks (AuthenticationService over an in-memory throttle)', () => {
  const PASSWORD = 'a quiet library at half past four';
  const where = { ip: '203.0.113.10', clientId: 'client-1' };
  let passwordHash: string;
  beforeAll(async () => {
    // argon2 reads its parameters from the hash: a cheap one keeps 50 checks fast (mutation runs).
    passwordHash = await argon2.hash(PASSWORD, { type: argon2.argon2id, memoryCost: 1024, timeCost: 1, parallelism: 1 });
  });

  function authWorld(options: { account?: Account | null; devices?: number; codes?: Record<string, string> } = {}) {
    const known = options.account === undefined ? account({ passwordHash }) : options.account;
    const store = new MemoryThrottleStore();
    const throttle = new ThrottleService(store, async () => {}, store.clock);
    const audits: Array<Record<string, unknown>> = [];
    const mails: Array<Record<string, unknown>> = [];
    let mailMode: 'fast' | 'slow' | 'fail' = 'fast';
    const send = async (message: Record<string, unknown>) => {
      if (mailMode === 'fail') throw new Error('smtp down');
      if (mailMode === 'slow') await new Promise((resolve) => setTimeout(resolve, 20));
      mails.push(message);
    };
    const repositories = {
      accounts: { findByEmail: async (email: string) => (known && email === known.email ? known : null) },
    } as unknown as Repositories;
    const authenticators = {
      hasSecondFactor: async () => (options.devices ?? 0) > 0,
      verifyCode: async (_id: string, code: string) => options.codes?.[code] ?? null,
    } as unknown as AuthenticatorService;
    const service = new AuthenticationService(
      repositories,
      throttle,
      authenticators,
      { record: async (event: Record<string, unknown>) => void audits.push(event) } as never,
      { send, close: () => {} } as never,
      pino({ level: 'silent' }),
    );
    const slowMail = () => void (mailMode = 'slow');
    const failMail = () => void (mailMode = 'fail');
    return { service, store, audits, mails, known: known!, slowMail, failMail };
  }

  test('a right password completes the sign-in only for an account with no device', async () => {
    const alone = authWorld();
    expect(await alone.service.checkPassword('staff@hill.example', PASSWORD, where)).toEqual({
      ok: true,
      account: alone.known,
      trustBrowser: true,
    });
    const withDevice = authWorld({ devices: 1 });
    expect(await withDevice.service.checkPassword('staff@hill.example', PASSWORD, where)).toEqual({
      ok: true,
      account: withDevice.known,
      trustBrowser: false,
    });
  });

  test('unknown address, no password yet and a wrong password all answer invalid, audited as failures', async () => {
    const { service, audits } = authWorld();
    expect(await service.checkPassword('nobody@hill.example', PASSWORD, where)).toEqual({ ok: false, reason: 'invalid' });
    expect(await service.checkPassword('staff@hill.example', 'wrong', where)).toEqual({ ok: false, reason: 'invalid' });
    expect(await authWorld({ account: account() }).service.checkPassword('staff@hill.example', PASSWORD, where)).toEqual({
      ok: false,
      reason: 'invalid',
    });
    expect(audits).toEqual([
      {
        event: 'sign_in.password',
        outcome: 'failure',
        reason: 'invalid',
        accountId: undefined,
        email: 'nobody@hill.example',
        clientId: 'client-1',
        ip: where.ip,
        detail: undefined,
      },
      {
        event: 'sign_in.password',
        outcome: 'failure',
        reason: 'invalid',
        accountId: 'acc-1',
        email: 'staff@hill.example',
        clientId: 'client-1',
        ip: where.ip,
        detail: undefined,
      },
    ]);
  });

  test('a locked account with the right password is refused as locked, and the success is audited as a failure', async () => {
    const { service, audits } = authWorld({ account: account({ passwordHash, status: 'locked' }) });
    expect(await service.checkPassword('staff@hill.example', PASSWORD, where)).toEqual({ ok: false, reason: 'locked' });
    expect(audits[0]).toMatchObject({ outcome: 'failure', reason: 'locked', accountId: 'acc-1' });
  });

  test('an existing account is counted by its id, an unknown address by a hash of its normalised form', async () => {
    const { service, store } = authWorld();
    for (let i = 0; i < THROTTLE.lockAfter; i += 1) await service.checkPassword('staff@hill.example', 'wrong', where);
    await service.checkPassword('nobody@hill.example', 'wrong', where);
    const keys = [
      `password:${accountSubject('acc-1')}:ip:${where.ip}`,
      `password:${passwordSubject(null, 'NOBODY@hill.example')}:ip:${where.ip}`,
    ];
    const windows = await store.readWindows(keys);
    expect(keys.map((key) => windows.get(key)?.count)).toEqual([THROTTLE.lockAfter, 1]);
  });

  test('the 10th wrong password pauses that account from that IP, even for the right password; another IP is not refused', async () => {
    const { service } = authWorld();
    const results = [];
    for (let i = 0; i < THROTTLE.lockAfter; i += 1) results.push(await service.checkPassword('staff@hill.example', 'wrong', where));
    expect(results.slice(0, -1).every((result) => !result.ok && result.reason === 'invalid')).toBe(true);
    expect(results.at(-1)).toMatchObject({ ok: false, reason: 'throttled' });
    expect(await service.checkPassword('staff@hill.example', PASSWORD, where)).toMatchObject({ ok: false, reason: 'throttled' });
    expect(await service.checkPassword('staff@hill.example', PASSWORD, { ...where, ip: '198.51.100.7' })).toMatchObject({ ok: true });
  });

  test(`${THROTTLE.blockAfter} consecutive wrong passwords block the factor; the person is mailed once, past ${THROTTLE.warnAfter}`, async () => {
    const { service, mails, audits } = authWorld();
    const spread = (i: number) => ({ ip: `198.51.100.${i}` });
    let last;
    for (let i = 0; i < THROTTLE.blockAfter; i += 1) last = await service.checkPassword('staff@hill.example', 'wrong', spread(i));
    expect(last).toEqual({ ok: false, reason: 'blocked' });
    expect(await service.checkPassword('staff@hill.example', PASSWORD, spread(200))).toEqual({ ok: false, reason: 'blocked' });
    await service.drain();
    expect(mails).toEqual([
      {
        to: 'staff@hill.example',
        template: 'guessing-warning',
        data: { name: 'Staff', email: 'staff@hill.example', code: false, failures: THROTTLE.warnAfter, limit: THROTTLE.blockAfter },
        // No page language and no school in these attempts: the account's language (none: English), the service's name.
        language: 'en',
        schoolName: undefined,
      },
    ]);
    expect(audits.filter((event) => event.event === 'guessing.warning_sent')).toEqual([
      {
        event: 'guessing.warning_sent',
        outcome: 'success',
        accountId: 'acc-1',
        email: 'staff@hill.example',
        detail: { factor: 'password' },
      },
    ]);
  });

  test('codes are counted per account apart from passwords, and a right code says which device', async () => {
    const { service, known } = authWorld({ codes: { '123456': 'dev-1' } });
    expect(await service.checkCode(known, '123456', where)).toEqual({ ok: true, account: known, trustBrowser: true, deviceId: 'dev-1' });
    for (let i = 0; i < THROTTLE.lockAfter - 1; i += 1)
      expect(await service.checkCode(known, '000000', where)).toEqual({ ok: false, reason: 'invalid' });
    expect(await service.checkCode(known, '000000', where)).toMatchObject({ ok: false, reason: 'throttled' });
    expect(await service.checkCode(known, '123456', where)).toMatchObject({ ok: false, reason: 'throttled' });
    expect(await service.checkPassword('staff@hill.example', PASSWORD, where)).toMatchObject({ ok: true });
  });

  test('code checks are audited as sign_in.code; a code streak warns with code: true, and drain waits for that mail', async () => {
    const { service, known, audits, mails, slowMail } = authWorld({ codes: {} });
    slowMail();
    await service.checkCode(known, '000000', where);
    expect(audits.at(-1)).toMatchObject({ event: 'sign_in.code', outcome: 'failure', reason: 'invalid', accountId: 'acc-1' });
    for (let i = 1; i < THROTTLE.warnAfter + 1; i += 1) await service.checkCode(known, '000000', { ip: `198.51.100.${i}` });
    expect(mails).toEqual([]);
    await service.drain();
    expect(mails.map((mail) => (mail.data as { code: boolean }).code)).toEqual([true]);
  });

  test('a warning mail that cannot be sent is logged, not thrown', async () => {
    const { service, known, failMail } = authWorld({ codes: {} });
    failMail();
    for (let i = 0; i < THROTTLE.warnAfter + 1; i += 1) await service.checkCode(known, '000000', { ip: `198.51.100.${i}` });
    await expect(service.drain()).resolves.toBeUndefined();
  });

  test('re-confirming a password never trusts the browser, and is throttled per account', async () => {
    const { service, known, audits } = authWorld();
    expect(await service.checkPasswordOf(known, PASSWORD, where)).toEqual({ ok: true, account: known, trustBrowser: false });
    expect(await service.checkPasswordOf(known, 'wrong', where)).toEqual({ ok: false, reason: 'invalid' });
    expect(audits.map((event) => [event.event, event.outcome])).toEqual([
      ['reauth.password', 'success'],
      ['reauth.password', 'failure'],
    ]);
    // Counted with the account's sign-in passwords: once they are paused, even the right one is refused here.
    for (let i = 1; i < THROTTLE.lockAfter; i += 1) await service.checkPassword('staff@hill.example', 'wrong', where);
    expect(await service.checkPasswordOf(known, PASSWORD, where)).toMatchObject({ ok: false, reason: 'throttled' });
  });

  test('a device cookie counts only for the account it was issued to', async () => {
    const { service, audits } = authWorld();
    const trusted = {
      ...where,
      devices: [
        { id: 'dev-x', accountId: 'acc-other', issuedAt: 0 },
        { id: 'dev-1', accountId: 'acc-1', issuedAt: 0 },
      ],
    };
    for (let i = 0; i < THROTTLE.lockAfter; i += 1) await service.checkPassword('staff@hill.example', 'wrong', where);
    // The pair (IP, account) is paused; this browser signed in before and keeps its own budget.
    expect(await service.checkPassword('staff@hill.example', PASSWORD, trusted)).toMatchObject({ ok: true });
    expect(audits.at(-1)).toMatchObject({ outcome: 'success', detail: { trustedDevice: true } });
    const foreign = { ...where, devices: [{ id: 'dev-x', accountId: 'acc-other', issuedAt: 0 }] };
    expect(await service.checkPassword('staff@hill.example', PASSWORD, foreign)).toMatchObject({ ok: false, reason: 'throttled' });
  });
});
