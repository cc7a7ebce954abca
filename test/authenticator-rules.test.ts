import pino from 'pino';
import { SecretBox } from '../src/auth/secret-box.ts';
import { newTotpSecret, TOTP_PERIOD } from '../src/auth/totp.ts';
import type { Account } from '../src/db/entities/index.ts';
import type { Repositories, UnitOfWork } from '../src/db/repositories/index.ts';
import { AuthenticatorService, DEVICE_NAME_MAX } from '../src/domain/authenticators.ts';
import { base32Decode, totp } from './support/totp.ts';

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

function world() {
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
  const mails: Array<{ to: string; template: string; data: Record<string, unknown> }> = [];
  const audits: Array<Record<string, unknown>> = [];
  const revoked: string[] = [];
  const sessionsEnded: string[] = [];
  const repositories = {
    authenticators: {
      listForAccount: async (accountId: string) => rows.filter((row) => row.accountId === accountId),
      countForAccount: async (accountId: string) => rows.filter((row) => row.accountId === accountId).length,
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
    oidcPayloads: { revokeAccount: async (accountId: string) => void revoked.push(accountId) },
    accounts: { setSessionsNotBefore: async (accountId: string) => void sessionsEnded.push(accountId) },
  } as unknown as Repositories;
  const transaction: UnitOfWork = async (work) => work(repositories);
  const service = new AuthenticatorService(
    repositories,
    transaction,
    box,
    {
      send: async (message: { to: string; template: string; data: Record<string, unknown> }) => void mails.push(message),
      close: () => {},
    } as never,
    pino({ level: 'silent' }),
    { record: async (event: Record<string, unknown>) => void audits.push(event) } as never,
  );
  const addDevice = (id: string, name: string, secret = newTotpSecret(), accountId = account.id) => {
    rows.push({ id, accountId, name, secretSealed: box.seal(secret, `totp:${id}`), step: null, createdAt: new Date(), lastUsedAt: null });
    return secret;
  };
  return { service, box, rows, mails, audits, revoked, sessionsEnded, addDevice };
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
    expect(await service.hasDevices(account.id)).toBe(true);
    expect(await service.hasDevices('acc-3')).toBe(false);
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
    const { service, addDevice, mails, revoked, sessionsEnded } = world();
    addDevice('dev-1', 'Phone');
    addDevice('dev-2', 'Tablet');
    expect(await service.resetAll(account)).toBe(2);
    expect(revoked).toEqual(['acc-1']);
    expect(sessionsEnded).toEqual(['acc-1']);
    expect(mails.at(-1)).toMatchObject({ template: 'device-removed', data: { deviceName: 'all 2 device(s), by your helpdesk' } });
    mails.length = 0;
    expect(await service.resetAll(account)).toBe(0);
    expect(mails).toEqual([]);
  });
});
