import pino from 'pino';
import { SecretBox } from '../src/auth/secret-box.ts';
import { newTotpSecret, TOTP_PERIOD } from '../src/auth/totp.ts';
import type { Account } from '../src/db/entities/index.ts';
import type { Repositories, UnitOfWork } from '../src/db/repositories/index.ts';
import { AuthenticatorService, DEVICE_NAME_MAX } from '../src/domain/authenticators.ts';
import type { DomainError } from '../src/domain/errors.ts';
import { LANGUAGES } from '../src/i18n/languages.ts';
import { createWords } from '../src/i18n/words.ts';
import type { MailMessage } from '../src/mail/mailer.ts';
import { base32Decode, decodeQrDataUrl, parseOtpauth, totp } from './support/totp.ts';

/**
 * Unit tests of the authenticator rules over in-memory repositories: which device a code
 * belongs to, replay refusal, enrolment checks, removal mail. test/authenticator.test.ts and the
 * browser tests keep the journeys on real PostgreSQL, SMTP and Chromium.
 */

const account: Account = {
  id: 'acc-1',
  email: 'staff@hill.example',
  emailNormalised: 'staff@hill.example',
  sessionsNotBefore: null,
  language: null,
  name: 'Staff',
  passwordHash: null,
  status: 'active',
  passwordChangedAt: null,
  createdAt: new Date(0),
  updatedAt: new Date(0),
};
const where = { ip: '192.0.2.1' };
const codeFor = (secret: string, at = Date.now()) => totp(base32Decode(secret), at);

function world(options: { serviceName?: string } = {}) {
  const box = new SecretBox(Buffer.alloc(32, 3));
  const rows: Array<{
    id: string;
    accountId: string;
    name: string;
    secretSealed: string;
    step: number | null;
    createdAt: Date;
    lastUsedAt: Date | null;
  }> = [];
  const usedSteps = new Set<string>();
  const mails: MailMessage[] = [];
  const audits: Array<Record<string, unknown>> = [];
  const revoked: string[] = [];
  const sessionsEnded: string[] = [];
  /** Passkeys and unused backup codes the account holds, for the helpdesk reset. */
  const held = { passkeys: 0, backupCodes: 0 };
  const repositories = {
    authenticators: {
      listForAccount: async (accountId: string) => rows.filter((row) => row.accountId === accountId),
      countForAccount: async (accountId: string) => rows.filter((row) => row.accountId === accountId).length,
      countSecondFactors: async (accountId: string) => rows.filter((row) => row.accountId === accountId).length,
      insert: async (row: { id: string; accountId: string; name: string; secretSealed: string; step: number }) =>
        void rows.push({ ...row, createdAt: new Date(), lastUsedAt: null }),
      markStepUsed: async (id: string, step: number) => {
        const key = `${id}:${step}`;
        if (usedSteps.has(key)) return false;
        usedSteps.add(key);
        return true;
      },
      delete: async (accountId: string, id: string) =>
        void rows.splice(
          rows.findIndex((row) => row.id === id && row.accountId === accountId),
          1,
        ),
      deleteAllFor: async (accountId: string) => {
        const before = rows.length;
        for (let i = rows.length - 1; i >= 0; i -= 1) if (rows[i]!.accountId === accountId) rows.splice(i, 1);
        return before - rows.length;
      },
    },
    passkeys: { deleteAllFor: async () => held.passkeys },
    backupCodes: { lockAccount: async () => {}, deleteAllFor: async () => held.backupCodes },
    oidcPayloads: {
      revokeAccount: async (accountId: string) => {
        revoked.push(accountId);
        return [];
      },
    },
    accounts: { setSessionsNotBefore: async (accountId: string) => void sessionsEnded.push(accountId) },
  } as unknown as Repositories;
  const transaction: UnitOfWork = async (work) => work(repositories);
  const service = new AuthenticatorService(
    repositories,
    transaction,
    box,
    {
      send: async (message: MailMessage) => void mails.push(message),
      close: () => {},
    } as never,
    pino({ level: 'silent' }),
    { record: async (event: Record<string, unknown>) => void audits.push(event) } as never,
    { serviceName: 'Gatehouse', ...options },
  );
  const addDevice = (id: string, name: string, secret = newTotpSecret(), accountId = account.id) => {
    rows.push({ id, accountId, name, secretSealed: box.seal(secret, `totp:${id}`), step: null, createdAt: new Date(), lastUsedAt: null });
    return secret;
  };
  return { service, box, rows, mails, audits, revoked, sessionsEnded, held, addDevice };
}

describe('verifyCode', () => {
  test('a current code names the device it came from; spaces inside are ignored', async () => {
    const { service, addDevice } = world();
    addDevice('dev-1', 'Phone');
    const tablet = addDevice('dev-2', 'Tablet');
    const code = codeFor(tablet);
    expect(await service.verifyCode(account.id, `${code.slice(0, 3)} ${code.slice(3)}`)).toBe('dev-2');
  });

  test('a code is good once per device and step: a replay is refused', async () => {
    const { service, addDevice } = world();
    const secret = addDevice('dev-1', 'Phone');
    const code = codeFor(secret);
    expect(await service.verifyCode(account.id, code)).toBe('dev-1');
    expect(await service.verifyCode(account.id, code)).toBeNull();
  });

  test('a wrong, old or malformed code, or one for another account’s device, names no device', async () => {
    const { service, addDevice } = world();
    const secret = addDevice('dev-1', 'Phone');
    const other = addDevice('dev-9', 'Theirs', newTotpSecret(), 'acc-2');
    expect(await service.verifyCode(account.id, codeFor(secret, Date.now() - 3 * TOTP_PERIOD * 1000))).toBeNull();
    expect(await service.verifyCode(account.id, codeFor(other))).toBeNull();
    expect(await service.verifyCode(account.id, '12345')).toBeNull();
    expect(await service.verifyCode(account.id, '١٢٣٤٥٦')).toBeNull();
    expect(await service.hasSecondFactor(account.id)).toBe(true);
    expect(await service.hasSecondFactor('acc-3')).toBe(false);
  });
});

describe('enrolment', () => {
  test('a right code saves the device under a trimmed name, sealed, audited and mailed', async () => {
    const { service, box, rows, mails, audits } = world();
    const form = await service.beginEnrolment(account);
    expect(form.qrDataUrl).toMatch(/^data:image\/png;base64,/);
    const secret = form.manualKey.replaceAll(' ', '');
    expect(form.manualKey).toMatch(/^([A-Z2-7]{4} ){7}[A-Z2-7]{4}$/);
    const device = await service.completeEnrolment(account, form.enrolment, '  My phone ', ` ${codeFor(secret)} `, where);
    expect(device.name).toBe('My phone');
    expect(rows).toHaveLength(1);
    expect(rows[0]!.secretSealed).not.toContain(secret);
    expect(box.open(rows[0]!.secretSealed, `totp:${device.id}`)).toBe(secret);
    expect(rows[0]!.step).toBe(Math.floor(Date.now() / 1000 / TOTP_PERIOD));
    expect(audits.at(-1)).toMatchObject({
      event: 'authenticator.enrol',
      outcome: 'success',
      detail: { deviceId: device.id, name: 'My phone' },
    });
    expect(mails.map((mail) => [mail.to, mail.template, mail.data.deviceName])).toEqual([
      ['staff@hill.example', 'device-added', 'My phone'],
    ]);
    expect(await service.list(account.id)).toEqual([{ id: device.id, name: 'My phone', createdAt: rows[0]!.createdAt, lastUsedAt: null }]);
  });

  test('a wrong code, an empty or too long name, or another account’s form saves nothing', async () => {
    const { service, rows, audits } = world();
    const form = await service.beginEnrolment(account);
    const secret = form.manualKey.replaceAll(' ', '');
    await expect(service.completeEnrolment(account, form.enrolment, 'Phone', '000000', where)).rejects.toMatchObject({ field: 'code' });
    expect(audits.at(-1)).toMatchObject({ event: 'authenticator.enrol', outcome: 'failure', reason: 'wrong_code' });
    await expect(service.completeEnrolment(account, form.enrolment, '   ', codeFor(secret), where)).rejects.toMatchObject({
      field: 'name',
    });
    await expect(
      service.completeEnrolment(account, form.enrolment, 'x'.repeat(DEVICE_NAME_MAX + 1), codeFor(secret), where),
    ).rejects.toMatchObject({ field: 'name' });
    await expect(
      service.completeEnrolment({ ...account, id: 'acc-2' }, form.enrolment, 'Phone', codeFor(secret), where),
    ).rejects.toMatchObject({ field: 'enrolment' });
    expect(rows).toEqual([]);
    const saved = await service.completeEnrolment(account, form.enrolment, 'x'.repeat(DEVICE_NAME_MAX), codeFor(secret), where);
    expect(saved.name).toHaveLength(DEVICE_NAME_MAX);
  });

  test('a form is good for 30 minutes, and resumes with the same key until then', async () => {
    const { service } = world();
    const realNow = Date.now;
    const start = realNow();
    try {
      Date.now = () => start;
      const form = await service.beginEnrolment(account);
      expect((await service.resumeEnrolment(account, form.enrolment))?.manualKey).toBe(form.manualKey);
      expect(await service.resumeEnrolment(account, 'v1.not.a.form')).toBeNull();
      Date.now = () => start + 30 * 60 * 1000 - 1;
      expect(await service.resumeEnrolment(account, form.enrolment)).not.toBeNull();
      Date.now = () => start + 30 * 60 * 1000;
      expect(await service.resumeEnrolment(account, form.enrolment)).toBeNull();
    } finally {
      Date.now = realNow;
    }
  });
});

describe('removal', () => {
  test('removing a device with a code from another one names that one in the audit and the mail', async () => {
    const { service, addDevice, mails, audits, rows } = world();
    addDevice('dev-1', 'Phone');
    addDevice('dev-2', 'Tablet');
    await service.remove(account, 'dev-1', where, 'dev-2');
    expect(rows.map((row) => row.id)).toEqual(['dev-2']);
    expect(audits.at(-1)).toMatchObject({
      event: 'authenticator.remove',
      detail: { deviceId: 'dev-1', name: 'Phone', provenWith: 'dev-2', provenWithName: 'Tablet' },
    });
    expect(mails.at(-1)).toMatchObject({ template: 'device-removed', data: { deviceName: 'Phone', usedDeviceName: 'Tablet' } });
  });

  test('removing the device that gave the proof, or with the password alone, names no other device', async () => {
    const { service, addDevice, mails, audits } = world();
    addDevice('dev-1', 'Phone');
    addDevice('dev-2', 'Tablet');
    await service.remove(account, 'dev-1', where, 'dev-1');
    expect(audits.at(-1)!.detail).toEqual({ deviceId: 'dev-1', name: 'Phone' });
    expect(mails.at(-1)!.data.usedDeviceName).toBeUndefined();
    await service.remove(account, 'dev-2', where);
    expect(audits.at(-1)!.detail).toEqual({ deviceId: 'dev-2', name: 'Tablet' });
  });

  test('the device removed is the one named, wherever it is in the list', async () => {
    const { service, addDevice, audits, rows } = world();
    addDevice('dev-1', 'Phone');
    addDevice('dev-2', 'Tablet');
    expect((await service.remove(account, 'dev-2', where)).name).toBe('Tablet');
    expect(rows.map((row) => row.id)).toEqual(['dev-1']);
    expect(audits.at(-1)).toMatchObject({ outcome: 'success', detail: { deviceId: 'dev-2', name: 'Tablet' } });
  });

  test('a device of another account is not found, and nothing is removed', async () => {
    const { service, addDevice, rows } = world();
    addDevice('dev-9', 'Theirs', newTotpSecret(), 'acc-2');
    await expect(service.remove(account, 'dev-9', where)).rejects.toMatchObject({ kind: 'not_found' });
    expect(rows).toHaveLength(1);
  });

  test('the helpdesk reset removes every device, ends the sessions and says so; with none, nothing is sent', async () => {
    const { service, addDevice, mails, revoked, sessionsEnded, held } = world();
    addDevice('dev-1', 'Phone');
    addDevice('dev-2', 'Tablet');
    expect(await service.resetAll(account)).toEqual({ devices: 2, passkeys: 0, backupCodes: 0 });
    expect(revoked).toEqual(['acc-1']);
    expect(sessionsEnded).toEqual(['acc-1']);
    // Nobody is on a page: the account's language (none stored: English), from the service.
    expect(mails.at(-1)).toMatchObject({
      template: 'device-removed',
      language: 'en',
      data: { deviceName: null, byHelpdesk: true, removedByHelpdesk: 2 },
    });
    expect(mails.at(-1)!.schoolName).toBeUndefined();
    expect(mails.at(-1)!.data.when).toBeInstanceOf(Date);
    mails.length = 0;
    expect(await service.resetAll(account)).toEqual({ devices: 0, passkeys: 0, backupCodes: 0 });
    expect(mails).toEqual([]);
    // Passkeys and backup codes alone are reset too, and said.
    Object.assign(held, { passkeys: 2, backupCodes: 7 });
    expect(await service.resetAll(account)).toEqual({ devices: 0, passkeys: 2, backupCodes: 7 });
    expect(mails.at(-1)).toMatchObject({ data: { byHelpdesk: true, removedByHelpdesk: 0, passkeysRemoved: 2, backupCodesVoided: 7 } });
    Object.assign(held, { passkeys: 0, backupCodes: 0 });
    // A person who last used Welsh gets it in Welsh, with the helpdesk's reason.
    addDevice('dev-3', 'Watch');
    expect((await service.resetAll({ ...account, language: 'cy' }, 'Lost')).devices).toBe(1);
    expect(mails.at(-1)).toMatchObject({ language: 'cy', data: { removedByHelpdesk: 1, helpdeskReason: 'Lost' } });
  });
});

describe('words and language', () => {
  const words = createWords({ serviceName: 'Gatehouse', helpdeskContact: undefined }, { strict: true });

  test('each enrolment refusal says, in both languages, what to do; its English message stays for logs and the API', async () => {
    const { service } = world();
    const form = await service.beginEnrolment(account);
    const secret = form.manualKey.replaceAll(' ', '');
    const refusal = (name: string, code: string, enrolment = form.enrolment) =>
      service.completeEnrolment(account, enrolment, name, code, where).then(
        () => {
          throw new Error('accepted');
        },
        (error: DomainError) => error,
      );
    const refusals = {
      code: await refusal('Phone', '000000'),
      empty: await refusal('  ', codeFor(secret)),
      long: await refusal('x'.repeat(DEVICE_NAME_MAX + 1), codeFor(secret)),
      expired: await refusal('Phone', codeFor(secret), 'v1.not.a.form'),
    };
    expect(Object.fromEntries(Object.entries(refusals).map(([why, error]) => [why, [error.field, error.words?.key]]))).toEqual({
      code: ['code', 'devices.enrol.wrongCode'],
      empty: ['name', 'devices.enrol.nameRequired'],
      long: ['name', 'devices.enrol.nameTooLong'],
      expired: ['enrolment', 'devices.enrol.expired'],
    });
    // A name is written into plain-text mails and the audit trail: nothing hidden in it (one rule for devices and passkeys).
    for (const name of ['Phone\r\nBcc: x@evil.example', 'Phone\tTwo', 'enohP\u202e', 'Pho\u200bne', 'Phone\u2028Two']) {
      const refused = await refusal(name, codeFor(secret));
      expect({ name, field: refused.field, key: refused.words?.key }).toEqual({
        name,
        field: 'name',
        key: 'passkeys.names.hiddenCharacters',
      });
    }
    expect(await service.completeEnrolment(account, form.enrolment, '  Ffôn Ysgol  ', codeFor(secret), where)).toMatchObject({
      name: 'Ffôn Ysgol',
    });
    expect(refusals.long.message).toBe(`Use at most ${DEVICE_NAME_MAX} characters for the name.`);
    expect(refusals.code.message).toBe('That code is not right. Enter the 6-digit code your authenticator app shows now.');
    for (const language of LANGUAGES) {
      const said = Object.values(refusals).map((error) => words.t(language, error.words!.key, error.words!.values));
      expect(new Set(said).size).toBe(4);
      expect(said[2]).toContain(String(DEVICE_NAME_MAX));
    }
    expect(words.t('cy', refusals.code.words!.key)).toBe(
      'Nid yw’r cod yna’n gywir. Rhowch y cod 6 digid y mae eich ap dilysu yn ei ddangos nawr.',
    );
    const { service: other, addDevice } = world();
    addDevice('dev-1', 'Phone');
    await expect(other.remove(account, 'dev-9', where)).rejects.toMatchObject({
      kind: 'not_found',
      words: { key: 'devices.notOnAccount' },
    });
  });

  test('a device mail is in the language of the page the person is on, from its school; else in the account’s language', async () => {
    const { service, addDevice, mails } = world();
    const form = await service.beginEnrolment({ ...account, language: 'en' });
    const secret = form.manualKey.replaceAll(' ', '');
    await service.completeEnrolment({ ...account, language: 'en' }, form.enrolment, 'Ffôn', codeFor(secret), {
      ...where,
      language: 'cy',
      schoolName: 'Ysgol Penglais',
    });
    expect(mails.at(-1)).toMatchObject({ template: 'device-added', language: 'cy', schoolName: 'Ysgol Penglais' });
    addDevice('dev-2', 'Tablet');
    await service.remove({ ...account, language: 'cy' }, 'dev-2', where);
    expect(mails.at(-1)).toMatchObject({ template: 'device-removed', language: 'cy', data: { deviceName: 'Tablet' } });
    expect(mails.at(-1)!.schoolName).toBeUndefined();
    addDevice('dev-3', 'Watch');
    await service.remove({ ...account, language: 'cy' }, 'dev-3', { ...where, language: 'en' });
    expect(mails.at(-1)).toMatchObject({ language: 'en', data: { deviceName: 'Watch' } });
  });

  test('the authenticator app shows SERVICE_NAME as the issuer of the code', async () => {
    const { service } = world({ serviceName: 'Ysgolion Ceredigion' });
    const otpauth = parseOtpauth(decodeQrDataUrl((await service.beginEnrolment(account)).qrDataUrl));
    expect(otpauth).toMatchObject({ label: 'Ysgolion Ceredigion:staff@hill.example', issuer: 'Ysgolion Ceredigion' });
  });
});
