import crypto from 'node:crypto';
import { PASSKEY_THROTTLE } from '../src/auth/throttle.ts';
import type { Account } from '../src/db/entities/index.ts';
import type { DomainError } from '../src/domain/errors.ts';
import { type Ceremony, PasskeyService } from '../src/domain/passkeys.ts';
import { formField } from './support/agent.ts';
import { useGatehouse } from './support/fixture.ts';
import { ageSessionsOf } from './support/gatehouse.ts';
import { Agent, audits, PASSWORD, REDIRECT_URI, staff, submitLogin } from './support/scenario.ts';
import { addPasskey, SoftAuthenticator, type Tamper } from './support/webauthn.ts';

/**
 * The passkey rules, on real PostgreSQL and SMTP, with a software authenticator instead of a
 * browser: what a registration and an assertion must hold to count, and that a refusal is a
 * refusal (`invalid` or `locked`), never an exception.
 */

const world = useGatehouse({ smtp: true, client: false });

const where = { ip: '192.0.2.7', clientId: 'hill-mis' };
const passkeys = () => world.services.passkeys;
const origin = () => new URL(world.issuer).origin;
const uid = () => crypto.randomUUID();

/** An account with one passkey on `authenticator`, registered through the service as the page would. */
async function withPasskey(email: string, options: { backupEligible?: boolean } = {}) {
  const account = await staff(world, email);
  return { account, ...(await addPasskey(world, account, { ...options, where })) };
}

/** One assertion from asking for options to the answer; `tamper` changes what the authenticator or browser sends. */
async function assert(authenticator: SoftAuthenticator, ceremony: Ceremony, account: Account | undefined, tamper: Tamper = {}) {
  const options = await passkeys().authenticationOptions(ceremony, account);
  const response = authenticator.get(options, tamper);
  return passkeys().verify(ceremony, response, where, {
    ...(account ? { account } : {}),
    afterPassword: ceremony.purpose === 'second_step',
  });
}

/** The last audit row of an event with its detail, as the audit trail keeps it. */
const lastAuditDetail = async (event: string) => (await audits(world.gatehouse, event, { columns: ['reason', 'detail'] })).at(-1);

const lastAudit = async (event: string) => (await audits(world.gatehouse, event, { columns: ['outcome', 'reason', 'account_id'] })).at(-1);

const refusal = async (promise: Promise<unknown>) => {
  const error = (await promise.then(
    () => null,
    (thrown: unknown) => thrown,
  )) as DomainError | null;
  expect(error).not.toBeNull();
  return error!;
};

describe('registration', () => {
  test('stores a discoverable passkey for the account, audits it and mails the person', async () => {
    const account = await staff(world, 'reg-ok@hill.example');
    const session = uid();
    const options = await passkeys().registrationOptions(account, session);
    expect(options.rp).toEqual({ id: new URL(world.issuer).hostname, name: world.services.config.serviceName });
    expect(Buffer.from(options.user.id, 'base64url').toString('hex')).toBe(account.id.replaceAll('-', ''));
    expect(options.authenticatorSelection).toMatchObject({ residentKey: 'required', userVerification: 'required' });
    expect(options.pubKeyCredParams.map((param) => param.alg)).toEqual([-7, -257]);
    const authenticator = new SoftAuthenticator(origin(), { backupEligible: true });
    const { passkey, amrOf } = await passkeys().register(account, session, authenticator.create(options), '  Work phone  ', where);
    expect(passkey).toMatchObject({ name: 'Work phone', synced: true });
    // What the registration proved, for the session it ends: user verification, and the password when one came first.
    expect([amrOf({ afterPassword: true }), amrOf({ afterPassword: false })]).toEqual([
      ['pwd', 'swk', 'user', 'mfa'],
      ['swk', 'user', 'mfa'],
    ]);
    expect(await passkeys().list(account.id)).toEqual([expect.objectContaining({ id: passkey.id, name: 'Work phone', synced: true })]);
    const stored = await world.services.repositories.passkeys.findByCredentialId(authenticator.credentials[0]!.id);
    expect(stored).toMatchObject({ backupEligible: true, backedUp: true, transports: ['internal'], signCount: 0 });
    expect(await lastAudit('passkey.register')).toMatchObject({ outcome: 'success', account_id: account.id });
    await world.smtp.waitFor('reg-ok@hill.example', /passkey/i);
  });

  test('the account’s passkeys are excluded, so the same authenticator is not registered twice', async () => {
    const { account, authenticator } = await withPasskey('reg-exclude@hill.example');
    const options = await passkeys().registrationOptions(account, uid());
    expect(options.excludeCredentials).toEqual([{ id: authenticator.credentials[0]!.id, type: 'public-key', transports: ['internal'] }]);
  });

  test('a name is required, at most 60 characters, and a refused name leaves the challenge for another try', async () => {
    const account = await staff(world, 'reg-name@hill.example');
    const session = uid();
    const created = new SoftAuthenticator(origin()).create(await passkeys().registrationOptions(account, session));
    expect((await refusal(passkeys().register(account, session, created, '   ', where))).words?.key).toBe('passkeys.add.nameRequired');
    expect((await refusal(passkeys().register(account, session, created, 'x'.repeat(61), where))).words?.key).toBe(
      'passkeys.add.nameTooLong',
    );
    expect((await passkeys().register(account, session, created, 'x'.repeat(60), where)).passkey.name).toHaveLength(60);
  });

  test('a name with line breaks, tabs or hidden formatting characters is refused, as a device’s is (one rule)', async () => {
    const account = await staff(world, 'reg-hidden@hill.example');
    const session = uid();
    const created = new SoftAuthenticator(origin()).create(await passkeys().registrationOptions(account, session));
    const form = await world.services.authenticators.beginEnrolment(account);
    const hidden = ['My\r\nlaptop', 'Tab\there', 'Laptop\u202Epot', 'Zero\u200Bwidth', 'Bell\u0007', 'Line\u2028sep', 'Soft\u00ADhyphen'];
    for (const name of hidden) {
      const asPasskey = await refusal(passkeys().register(account, session, created, name, where));
      const asDevice = await refusal(world.services.authenticators.completeEnrolment(account, form.enrolment, name, '000000', where));
      expect([name, asPasskey.words?.key, asDevice.words?.key]).toEqual([
        name,
        'passkeys.names.hiddenCharacters',
        'passkeys.names.hiddenCharacters',
      ]);
      expect(asDevice.field).toBe('name');
    }
    // Around the name, whitespace is trimmed as before; letters of any script, and emoji, are names.
    expect((await passkeys().register(account, session, created, '\n Gliniadur Siân 💻 \t', where)).passkey.name).toBe('Gliniadur Siân 💻');
  });

  test('a registration challenge answers once, for its session and account only', async () => {
    const account = await staff(world, 'reg-challenge@hill.example');
    const other = await staff(world, 'reg-challenge-other@hill.example');
    const session = uid();
    const authenticator = new SoftAuthenticator(origin());
    const options = await passkeys().registrationOptions(account, session);
    const created = authenticator.create(options);
    // Another session, another account, another purpose: none of them may spend it.
    const elsewhere = await refusal(passkeys().register(account, uid(), created, 'Laptop', where));
    expect(elsewhere.kind).toBe('validation');
    expect(elsewhere.words?.key).toBe('passkeys.add.failed');
    expect((await refusal(passkeys().register(other, session, created, 'Laptop', where))).words?.key).toBe('passkeys.add.failed');
    // The refusals above took it: a challenge is spent by any answer, right or wrong.
    expect((await refusal(passkeys().register(account, session, created, 'Laptop', where))).words?.key).toBe('passkeys.add.failed');
    const again = await passkeys().registrationOptions(account, session);
    await passkeys().register(account, session, authenticator.create(again), 'Laptop', where);
    expect((await refusal(passkeys().register(account, session, authenticator.create(again), 'Laptop', where))).words?.key).toBe(
      'passkeys.add.failed',
    );
    expect(await passkeys().list(account.id)).toHaveLength(1);
    // Said as a refused challenge, without the library's words (they repeat the challenge submitted).
    expect(await lastAudit('passkey.register')).toMatchObject({ outcome: 'failure', reason: 'challenge' });
  });

  test('another origin, another rp id, or no user verification is refused', async () => {
    const account = await staff(world, 'reg-origin@hill.example');
    for (const tamper of [{ origin: 'https://gatehouse.example.net' }, { rpId: 'example.net' }, { userVerified: false }] as Tamper[]) {
      const session = uid();
      const created = new SoftAuthenticator(origin()).create(await passkeys().registrationOptions(account, session), tamper);
      expect((await refusal(passkeys().register(account, session, created, 'Laptop', where))).words?.key).toBe('passkeys.add.failed');
    }
    expect(await passkeys().list(account.id)).toEqual([]);
  });

  test('a credential registered already, here or on another account, is refused in words', async () => {
    const { account, authenticator } = await withPasskey('reg-dup@hill.example');
    const other = await staff(world, 'reg-dup-other@hill.example');
    const first = authenticator.credentials[0]!;
    for (const who of [other, account]) {
      const session = uid();
      const again = authenticator.create(await passkeys().registrationOptions(who, session), {}, first);
      expect((await refusal(passkeys().register(who, session, again, 'Laptop again', where))).words?.key).toBe('passkeys.add.duplicate');
      expect(await lastAudit('passkey.register')).toMatchObject({ outcome: 'failure', reason: 'duplicate', account_id: who.id });
    }
    expect(await passkeys().list(other.id)).toEqual([]);
    expect(await passkeys().list(account.id)).toHaveLength(1);
  });

  test('a library failure on nonsense is a refusal in words, never an exception', async () => {
    const account = await staff(world, 'reg-garbage@hill.example');
    const session = uid();
    await passkeys().registrationOptions(account, session);
    for (const garbage of [{}, { id: 'x', rawId: 'x', type: 'public-key', response: {} }, null]) {
      const error = await refusal(passkeys().register(account, session, garbage as never, 'Laptop', where));
      expect(error.kind).toBe('validation');
    }
  });
});

describe('removal', () => {
  test('only the account’s own passkey is removed, audited and mailed', async () => {
    const { account, passkey } = await withPasskey('remove@hill.example');
    const other = await staff(world, 'remove-other@hill.example');
    expect((await refusal(passkeys().remove(other, passkey.id, where))).kind).toBe('not_found');
    expect((await refusal(passkeys().remove(account, 'not-a-uuid', where))).words?.key).toBe('passkeys.notOnAccount');
    expect(await passkeys().list(account.id)).toHaveLength(1);
    expect((await passkeys().remove(account, passkey.id, where)).name).toBe('Laptop');
    expect(await passkeys().list(account.id)).toEqual([]);
    expect(await lastAudit('passkey.remove')).toMatchObject({ outcome: 'success', account_id: account.id });
    await world.smtp.waitFor('remove@hill.example', /removed/i);
  });
});

describe('assertions', () => {
  const signIn = (): Ceremony => ({ purpose: 'sign_in', binding: uid() });

  test('a discoverable sign-in with user verification is both factors; the counter, backup state and last use are stored', async () => {
    const { account, authenticator, passkey } = await withPasskey('assert-ok@hill.example');
    const options = await passkeys().authenticationOptions(signIn());
    expect(options.allowCredentials).toBeUndefined();
    expect(options.userVerification).toBe('required');
    expect(options.rpId).toBe(new URL(world.issuer).hostname);
    const check = await assert(authenticator, signIn(), undefined);
    expect(check).toMatchObject({ ok: true, account: { id: account.id }, passkey: { id: passkey.id }, amr: ['hwk', 'user', 'mfa'] });
    const stored = await world.services.repositories.passkeys.findByCredentialId(authenticator.credentials[0]!.id);
    expect(stored?.signCount).toBe(1);
    expect(stored?.lastUsedAt).toBeInstanceOf(Date);
    expect(await lastAudit('sign_in.passkey')).toMatchObject({ outcome: 'success', account_id: account.id });
  });

  test('a synced passkey is `swk`; its backed-up state is kept up to date', async () => {
    const { account, authenticator } = await withPasskey('assert-synced@hill.example', { backupEligible: true });
    expect(await assert(authenticator, signIn(), undefined, { backedUp: false })).toMatchObject({ ok: true, amr: ['swk', 'user', 'mfa'] });
    const stored = await world.services.repositories.passkeys.findByCredentialId(authenticator.credentials[0]!.id);
    expect(stored).toMatchObject({ backupEligible: true, backedUp: false });
    // Synced is what the passkey is (BE), not whether it happens to be backed up right now (BS).
    expect(await passkeys().list(account.id)).toEqual([expect.objectContaining({ synced: true })]);
  });

  test('a challenge answers once: the same assertion again, or an old one against a new challenge, is refused', async () => {
    const { authenticator } = await withPasskey('assert-replay@hill.example');
    const ceremony = signIn();
    const response = authenticator.get(await passkeys().authenticationOptions(ceremony));
    expect((await passkeys().verify(ceremony, response, where, { afterPassword: false })).ok).toBe(true);
    expect(await passkeys().verify(ceremony, response, where, { afterPassword: false })).toEqual({ ok: false, reason: 'invalid' });
    await passkeys().authenticationOptions(ceremony);
    expect(await passkeys().verify(ceremony, response, where, { afterPassword: false })).toEqual({ ok: false, reason: 'invalid' });
    expect(await lastAudit('sign_in.passkey')).toMatchObject({ outcome: 'failure', reason: 'challenge' });
  });

  test('an expired challenge is refused', async () => {
    const { authenticator } = await withPasskey('assert-expired@hill.example');
    const ceremony = signIn();
    const response = authenticator.get(await passkeys().authenticationOptions(ceremony));
    await world.gatehouse.database.dataSource.query(
      `UPDATE webauthn_challenges SET expires_at = now() - interval '1 second' WHERE binding = $1`,
      [ceremony.binding],
    );
    expect(await passkeys().verify(ceremony, response, where, { afterPassword: false })).toEqual({ ok: false, reason: 'invalid' });
  });

  test('a challenge of another binding or purpose is refused', async () => {
    const { account, authenticator } = await withPasskey('assert-binding@hill.example');
    const ceremony = signIn();
    const response = authenticator.get(await passkeys().authenticationOptions(ceremony));
    expect(await passkeys().verify(signIn(), response, where, { afterPassword: false })).toEqual({ ok: false, reason: 'invalid' });
    const asSecondStep: Ceremony = { purpose: 'second_step', binding: ceremony.binding };
    expect(await passkeys().verify(asSecondStep, response, where, { account, afterPassword: true })).toEqual({
      ok: false,
      reason: 'invalid',
    });
    const confirm: Ceremony = { purpose: 'confirm', binding: uid() };
    const forConfirm = authenticator.get(await passkeys().authenticationOptions(confirm, account));
    expect(await passkeys().verify({ purpose: 'sign_in', binding: confirm.binding }, forConfirm, where, { afterPassword: false })).toEqual({
      ok: false,
      reason: 'invalid',
    });
  });

  test('an account-bound challenge answers for that account only', async () => {
    const first = await withPasskey('assert-bound-1@hill.example');
    const second = await withPasskey('assert-bound-2@hill.example');
    const ceremony: Ceremony = { purpose: 'confirm', binding: uid() };
    await passkeys().authenticationOptions(ceremony, first.account);
    // The second account's own passkey against the challenge issued for the first (same binding).
    const options = await passkeys().authenticationOptions(ceremony, first.account);
    const response = second.authenticator.get(options);
    expect(await passkeys().verify(ceremony, response, where, { account: second.account, afterPassword: false })).toEqual({
      ok: false,
      reason: 'invalid',
    });
  });

  test('another origin or rp id is refused', async () => {
    const { authenticator } = await withPasskey('assert-origin@hill.example');
    expect(await assert(authenticator, signIn(), undefined, { origin: 'https://gatehouse.example.net' })).toEqual({
      ok: false,
      reason: 'invalid',
    });
    expect(await assert(authenticator, signIn(), undefined, { rpId: 'example.net' })).toEqual({ ok: false, reason: 'invalid' });
    expect(await assert(authenticator, signIn(), undefined, { type: 'webauthn.create' })).toEqual({ ok: false, reason: 'invalid' });
  });

  test('without user verification: refused for a sign-in and a confirmation, enough after a password', async () => {
    const { account, authenticator } = await withPasskey('assert-uv@hill.example');
    expect(await assert(authenticator, signIn(), undefined, { userVerified: false })).toEqual({ ok: false, reason: 'invalid' });
    expect(await assert(authenticator, { purpose: 'confirm', binding: uid() }, account, { userVerified: false })).toEqual({
      ok: false,
      reason: 'invalid',
    });
    const options = await passkeys().authenticationOptions({ purpose: 'second_step', binding: uid() }, account);
    expect(options.userVerification).toBe('preferred');
    expect(options.allowCredentials).toEqual([{ id: authenticator.credentials[0]!.id, type: 'public-key', transports: ['internal'] }]);
    expect(await assert(authenticator, { purpose: 'second_step', binding: uid() }, account, { userVerified: false })).toMatchObject({
      ok: true,
      amr: ['pwd', 'hwk', 'mfa'],
    });
    expect(await lastAudit('sign_in.passkey_second_step')).toMatchObject({ outcome: 'success', account_id: account.id });
  });

  test('a counter that does not go up is refused, and audited as `counter` (a sign of a cloned key)', async () => {
    const { account, authenticator } = await withPasskey('assert-counter@hill.example');
    expect((await assert(authenticator, signIn(), undefined, { counter: 5 })).ok).toBe(true);
    expect(await assert(authenticator, signIn(), undefined, { counter: 5 })).toEqual({ ok: false, reason: 'invalid' });
    expect(await lastAudit('sign_in.passkey')).toMatchObject({ outcome: 'failure', reason: 'counter', account_id: account.id });
    expect(await assert(authenticator, signIn(), undefined, { counter: 2 })).toEqual({ ok: false, reason: 'invalid' });
    expect(await lastAuditDetail('sign_in.passkey')).toMatchObject({ reason: 'counter', detail: { counter: 2, stored: 5 } });
    expect((await assert(authenticator, signIn(), undefined, { counter: 6 })).ok).toBe(true);
  });

  test('a counter gone back under a signature that is not the passkey’s is a bad signature, not a cloned key', async () => {
    const { authenticator } = await withPasskey('assert-counter-forged@hill.example');
    expect((await assert(authenticator, signIn(), undefined, { counter: 5 })).ok).toBe(true);
    const ceremony = signIn();
    const rolledBack = authenticator.get(await passkeys().authenticationOptions(ceremony), { counter: 1 });
    const signature = Buffer.from(rolledBack.response.signature, 'base64url');
    signature[signature.length - 1]! ^= 0xff;
    const forged = { ...rolledBack, response: { ...rolledBack.response, signature: signature.toString('base64url') } };
    expect(await passkeys().verify(ceremony, forged, where, { afterPassword: false })).toEqual({ ok: false, reason: 'invalid' });
    expect((await lastAudit('sign_in.passkey'))?.reason).toBe('signature');
  });

  test('of two assertions checked against the same counter, only the first is stored', async () => {
    const { authenticator } = await withPasskey('assert-race@hill.example');
    const row = (await world.services.repositories.passkeys.findByCredentialId(authenticator.credentials[0]!.id))!;
    // What a second process does when the first stored its use between its read and its write.
    const findByCredentialId = world.services.repositories.passkeys.findByCredentialId;
    world.services.repositories.passkeys.findByCredentialId = async () => row;
    try {
      expect((await assert(authenticator, signIn(), undefined, { counter: 3 })).ok).toBe(true);
      expect(await assert(authenticator, signIn(), undefined, { counter: 4 })).toEqual({ ok: false, reason: 'invalid' });
    } finally {
      world.services.repositories.passkeys.findByCredentialId = findByCredentialId;
    }
    expect(await lastAudit('sign_in.passkey')).toMatchObject({ outcome: 'failure', reason: 'counter' });
  });

  test('a backup-eligible flag that changed is refused, either way', async () => {
    const bound = await withPasskey('assert-be-1@hill.example');
    expect(await assert(bound.authenticator, signIn(), undefined, { backupEligible: true })).toEqual({ ok: false, reason: 'invalid' });
    const synced = await withPasskey('assert-be-2@hill.example', { backupEligible: true });
    expect(await assert(synced.authenticator, signIn(), undefined, { backupEligible: false, backedUp: false })).toEqual({
      ok: false,
      reason: 'invalid',
    });
    expect(await lastAudit('sign_in.passkey')).toMatchObject({ outcome: 'failure', reason: 'backup_eligibility' });
  });

  test('another account’s passkey is refused for the second step and a confirmation', async () => {
    const mine = await withPasskey('assert-other-1@hill.example');
    const theirs = await withPasskey('assert-other-2@hill.example');
    for (const purpose of ['second_step', 'confirm'] as const) {
      const ceremony: Ceremony = { purpose, binding: uid() };
      const options = await passkeys().authenticationOptions(ceremony, mine.account);
      const response = theirs.authenticator.get({ ...options, allowCredentials: [] });
      expect(await passkeys().verify(ceremony, response, where, { account: mine.account, afterPassword: true })).toEqual({
        ok: false,
        reason: 'invalid',
      });
    }
    expect(await lastAudit('reauth.passkey')).toMatchObject({ outcome: 'failure', reason: 'other_account', account_id: mine.account.id });
  });

  test('a user handle that is not the credential’s account, or none at a sign-in, is refused', async () => {
    const { authenticator } = await withPasskey('assert-handle@hill.example');
    const other = await staff(world, 'assert-handle-other@hill.example');
    const handle = Buffer.from(other.id.replaceAll('-', ''), 'hex').toString('base64url');
    expect(await assert(authenticator, signIn(), undefined, { userHandle: handle })).toEqual({ ok: false, reason: 'invalid' });
    expect(await assert(authenticator, signIn(), undefined, { userHandle: null })).toEqual({ ok: false, reason: 'invalid' });
    expect(await lastAudit('sign_in.passkey')).toMatchObject({ outcome: 'failure', reason: 'user_handle' });
  });

  test('an unknown credential, a bad signature or nonsense is refused, never an exception', async () => {
    const { authenticator } = await withPasskey('assert-garbage@hill.example');
    const stranger = new SoftAuthenticator(origin());
    stranger.create(await passkeys().registrationOptions(await staff(world, 'assert-garbage-2@hill.example'), uid()));
    expect(await assert(stranger, signIn(), undefined)).toEqual({ ok: false, reason: 'invalid' });
    expect(await lastAudit('sign_in.passkey')).toMatchObject({ outcome: 'failure', reason: 'unknown_credential' });
    const ceremony = signIn();
    const good = authenticator.get(await passkeys().authenticationOptions(ceremony));
    const forged = {
      ...good,
      response: { ...good.response, signature: stranger.get(await passkeys().authenticationOptions(signIn())).response.signature },
    };
    expect(await passkeys().verify(ceremony, forged, where, { afterPassword: false })).toEqual({ ok: false, reason: 'invalid' });
    for (const garbage of [null, {}, { id: 42 }, { id: authenticator.credentials[0]!.id }, { id: 'x'.repeat(5000) }]) {
      expect(await passkeys().verify(signIn(), garbage as never, where, { afterPassword: false })).toEqual({
        ok: false,
        reason: 'invalid',
      });
    }
  });

  test('a database failure is not a refusal: it propagates to the error handler, unaudited, and does not count toward the pause', async () => {
    const { account, authenticator } = await withPasskey('assert-db-down@hill.example');
    const real = passkeys() as unknown as { deps: ConstructorParameters<typeof PasskeyService>[0] };
    const lost = new Error('Connection terminated unexpectedly');
    const failing = new PasskeyService({
      ...real.deps,
      repositories: {
        ...real.deps.repositories,
        passkeys: {
          ...real.deps.repositories.passkeys,
          findByCredentialId: async () => {
            throw lost;
          },
        } as never,
      },
    });
    const ceremony = signIn();
    const audited = async () => (await audits(world.gatehouse, 'sign_in.passkey', { columns: ['reason'] })).length;
    const before = await audited();
    for (let i = 0; i < PASSKEY_THROTTLE.failuresPerCeremony; i += 1) {
      const response = authenticator.get(await failing.authenticationOptions(ceremony));
      await expect(failing.verify(ceremony, response, where, { afterPassword: false })).rejects.toBe(lost);
    }
    expect(await audited()).toBe(before);
    // The ceremony is not paused: the same passkey, on the same page, from the same IP, signs in.
    expect(await assert(authenticator, ceremony, undefined)).toMatchObject({ ok: true, account: { id: account.id } });
  });

  test('a locked account’s passkey answers `locked`, and only after the proof of possession', async () => {
    const { account, authenticator } = await withPasskey('assert-locked@hill.example');
    await world.services.repositories.accounts.setStatus(account.id, 'locked');
    expect(await assert(authenticator, signIn(), undefined, { origin: 'https://gatehouse.example.net' })).toEqual({
      ok: false,
      reason: 'invalid',
    });
    expect(await assert(authenticator, signIn(), undefined)).toEqual({ ok: false, reason: 'locked' });
    expect(await lastAudit('sign_in.passkey')).toMatchObject({ outcome: 'failure', reason: 'locked', account_id: account.id });
  });

  test('every attempt that names the live challenge uses it up: after an unknown passkey, the right one is refused too', async () => {
    const { authenticator } = await withPasskey('assert-spent@hill.example');
    const stranger = new SoftAuthenticator(origin());
    stranger.create(await passkeys().registrationOptions(await staff(world, 'assert-spent-2@hill.example'), uid()));
    const ceremony = signIn();
    const options = await passkeys().authenticationOptions(ceremony);
    expect(await passkeys().verify(ceremony, stranger.get(options), where, { afterPassword: false })).toEqual({
      ok: false,
      reason: 'invalid',
    });
    expect(await lastAudit('sign_in.passkey')).toMatchObject({ reason: 'unknown_credential' });
    // Malformed otherwise (no credential id), but with the live challenge: that too uses it up.
    const again = signIn();
    const answer = authenticator.get(await passkeys().authenticationOptions(again));
    expect(await passkeys().verify(again, { ...answer, id: '' }, where, { afterPassword: false })).toEqual({
      ok: false,
      reason: 'invalid',
    });
    for (const [used, response] of [
      [ceremony, authenticator.get(options)],
      [again, answer],
    ] as const) {
      expect(await passkeys().verify(used, response, where, { afterPassword: false })).toEqual({ ok: false, reason: 'invalid' });
      expect(await lastAudit('sign_in.passkey')).toMatchObject({ reason: 'challenge' });
    }
  });

  test('the audit trail keeps only a digest of an unknown credential id, and none of what a stranger wrote', async () => {
    const ceremony = signIn();
    const options = await passkeys().authenticationOptions(ceremony);
    const stranger = new SoftAuthenticator(origin());
    stranger.create(await passkeys().registrationOptions(await staff(world, 'assert-digest@hill.example'), uid()));
    const posted = { ...stranger.get(options), id: 'A'.repeat(1400), rawId: 'A'.repeat(1400) };
    await passkeys().verify(ceremony, posted, where, { afterPassword: false });
    const row = await lastAuditDetail('sign_in.passkey');
    expect(row).toEqual({
      reason: 'unknown_credential',
      detail: { credentialIdDigest: crypto.createHash('sha256').update('A'.repeat(1400)).digest('base64url').slice(0, 16) },
    });

    // A refused challenge is said without the challenge that was sent.
    const { authenticator } = await withPasskey('assert-digest-2@hill.example');
    const stale = authenticator.get(await passkeys().authenticationOptions(ceremony), { challenge: 'S'.repeat(64) });
    await passkeys().verify(ceremony, stale, where, { afterPassword: false });
    const challengeRefused = await lastAuditDetail('sign_in.passkey');
    expect(challengeRefused?.reason).toBe('challenge');
    expect(JSON.stringify(challengeRefused)).not.toContain('SSSS');

    // The library's words repeat an origin of a stranger's choosing: kept short.
    await assert(authenticator, signIn(), undefined, { origin: `https://${'o'.repeat(3000)}.example` });
    const refused = await lastAuditDetail('sign_in.passkey');
    expect(refused?.reason).toBe('assertion');
    expect(String(refused?.detail?.error).length).toBeLessThanOrEqual(160);
  });

  test('another account’s passkey: the refusal says which passkey, not its owner’s name for it', async () => {
    const mine = await withPasskey('assert-other-name-1@hill.example');
    const theirs = await withPasskey('assert-other-name-2@hill.example');
    const ceremony: Ceremony = { purpose: 'second_step', binding: uid() };
    const options = await passkeys().authenticationOptions(ceremony, mine.account);
    await passkeys().verify(ceremony, theirs.authenticator.get({ ...options, allowCredentials: [] }), where, {
      account: mine.account,
      afterPassword: true,
    });
    const row = await lastAuditDetail('sign_in.passkey_second_step');
    expect(row).toEqual({ reason: 'other_account', detail: { passkeyId: theirs.passkey.id, ownerId: theirs.account.id } });
  });

  test(`${PASSKEY_THROTTLE.failuresPerCeremony} refusals pause a ceremony from that IP: even the right passkey is refused, nothing is checked`, async () => {
    const { account, authenticator } = await withPasskey('assert-paused@hill.example');
    const ceremony = signIn();
    for (let failure = 1; failure <= PASSKEY_THROTTLE.failuresPerCeremony; failure += 1) {
      const options = await passkeys().authenticationOptions(ceremony);
      expect(
        await passkeys().verify(ceremony, authenticator.get(options, { userVerified: false }), where, { afterPassword: false }),
      ).toEqual({
        ok: false,
        reason: 'invalid',
      });
    }
    // The refusal that started the pause says so.
    expect(await lastAuditDetail('sign_in.passkey')).toMatchObject({ detail: { paused: true } });
    const paused = authenticator.get(await passkeys().authenticationOptions(ceremony));
    expect(await passkeys().verify(ceremony, paused, where, { afterPassword: false })).toEqual({ ok: false, reason: 'throttled' });
    expect(await lastAudit('sign_in.passkey')).toMatchObject({ outcome: 'failure', reason: 'throttled' });
    // Nothing was checked: the challenge is still there, and answers from another IP.
    const elsewhere = { ...where, ip: '198.51.100.7' };
    expect(await passkeys().verify(ceremony, paused, elsewhere, { afterPassword: false })).toMatchObject({
      ok: true,
      account: { id: account.id },
    });
    // Another ceremony from the same IP (another person in the staff room) is not paused.
    expect((await assert(authenticator, signIn(), undefined)).ok).toBe(true);
  });

  test('the audit trail says where an assertion came from', async () => {
    const { authenticator } = await withPasskey('assert-where@hill.example');
    await assert(authenticator, signIn(), undefined);
    const rows: Array<{ ip: string; client_id: string }> = await world.gatehouse.database.dataSource.query(
      `SELECT ip, client_id FROM audit_events WHERE event = 'sign_in.passkey' ORDER BY id DESC LIMIT 1`,
    );
    expect(rows[0]).toEqual({ ip: where.ip, client_id: where.clientId });
  });
});

describe('the pages, over HTTP: bad input gets words and a 4xx, never a 5xx', () => {
  const KEYS = () => `${world.issuer}/account/security-keys`;

  /** Signed in to Account settings with the password: the browser, and the add page it was shown. */
  async function signedInAgent(email: string) {
    const account = await staff(world, email);
    const agent = new Agent(REDIRECT_URI);
    const login = await agent.follow(await agent.get(`${world.issuer}/account`));
    await agent.follow(await submitLogin(agent, login, email, PASSWORD));
    const add = await agent.get(`${KEYS()}/passkeys/new`);
    expect(add.status).toBe(200);
    return { account, agent, csrf: formField(add.html, '_csrf') };
  }

  test('the options are for this account, single-use, and asked again after the proof went stale', async () => {
    const { account, agent, csrf } = await signedInAgent('http-options@hill.example');
    const answer = await agent.post(`${KEYS()}/passkeys/options`, { _csrf: csrf });
    expect(answer.status).toBe(200);
    const options = JSON.parse(answer.html);
    expect(options).toMatchObject({ rp: { id: new URL(world.issuer).hostname }, user: { name: account.email }, timeout: 300_000 });
    expect((await agent.post(`${KEYS()}/passkeys/options`, {})).status).toBe(403);
    await ageSessionsOf(world.gatehouse, account.id);
    const stale = await agent.post(`${KEYS()}/passkeys/options`, { _csrf: csrf });
    expect(stale.status).toBe(403);
    expect(JSON.parse(stale.html)).toEqual({
      confirm: `/account/confirm?next=${encodeURIComponent('/account/security-keys/passkeys/new')}`,
    });
  });

  test('a posted passkey that is not one, or no name, is said in words on the add page', async () => {
    const { account, agent, csrf } = await signedInAgent('http-add@hill.example');
    const cases: Array<[Record<string, string>, string]> = [
      [{ name: '', response: '' }, 'Give this passkey a name'],
      [{ name: 'Laptop', response: '' }, 'The passkey could not be created.'],
      [{ name: 'Laptop', response: '{not json' }, 'The passkey could not be created.'],
      [
        {
          name: 'Laptop',
          response: JSON.stringify({
            id: 'x',
            rawId: 'x',
            type: 'public-key',
            response: { clientDataJSON: 'e30', attestationObject: 'oA' },
          }),
        },
        'The passkey could not be created.',
      ],
      [{ name: 'x'.repeat(61), response: '' }, 'Use at most 60 characters for the name.'],
    ];
    for (const [form, words] of cases) {
      const page = await agent.post(`${KEYS()}/passkeys/new`, { _csrf: csrf, ...form });
      expect({ form, status: page.status, said: page.html.includes(words) }).toEqual({ form, status: 400, said: true });
    }
    const huge = await agent.post(`${KEYS()}/passkeys/new`, { _csrf: csrf, name: 'Laptop', response: 'x'.repeat(13_000) });
    expect(huge.status).toBe(400);
    expect(await passkeys().list(account.id)).toEqual([]);
  });

  test('removing a passkey that is not the account’s, or not a passkey at all, is a 404 in words', async () => {
    const { account: owner, passkey } = await withPasskey('http-remove-owner@hill.example');
    const { agent, csrf } = await signedInAgent('http-remove@hill.example');
    for (const id of [passkey.id, 'not-a-uuid']) {
      const page = await agent.get(`${KEYS()}/passkeys/${id}/remove`);
      expect(page.status).toBe(404);
      expect(page.html).toContain('That passkey is not on your account.');
      expect((await agent.post(`${KEYS()}/passkeys/${id}/remove`, { _csrf: csrf })).status).toBe(404);
    }
    expect(await passkeys().list(owner.id)).toHaveLength(1);
  });

  test('"Confirm with a passkey" refuses what is not an assertion of its own, in words', async () => {
    // (An account without passkeys, so that the password alone keeps this session signed in.)
    const { agent, csrf } = await signedInAgent('http-confirm@hill.example');
    const other = await withPasskey('http-confirm-other@hill.example');
    const refusedWith = async (response: string) =>
      agent.post(`${world.issuer}/account/confirm/passkey`, { _csrf: csrf, next: '/account/security-keys/passkeys/new', response });
    const garbage = await refusedWith('{}');
    expect(garbage.status).toBe(400);
    expect(garbage.html).toContain('That passkey did not confirm it’s you.');
    const options = JSON.parse((await agent.post(`${world.issuer}/account/confirm/passkey/options`, { _csrf: csrf })).html);
    const theirs = await refusedWith(JSON.stringify(other.authenticator.get(options)));
    expect(theirs.status).toBe(403);
    expect(theirs.html).toContain('That passkey did not confirm it’s you.');
  });
});
