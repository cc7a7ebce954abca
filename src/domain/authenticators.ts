import crypto from 'node:crypto';
import QRCode from 'qrcode';
import type { Logger } from 'pino';
import type { SecretBox } from '../auth/secret-box.ts';
import { groupedSecret, matchingStep, newTotpSecret, otpauthUri } from '../auth/totp.ts';
import type { Account } from '../db/entities/index.ts';
import type { Repositories, UnitOfWork } from '../db/repositories/index.ts';
import { type Mailer, sendAccountNotice } from '../mail/mailer.ts';
import type { AuditService, RequestContext } from './audit.ts';
import { notFound, validationError } from './errors.ts';
import { endSessions } from './access.ts';
import { voidBackupCodesWithoutSecondFactor } from './backup-codes.ts';
import { CREDENTIAL_NAME_MAX, credentialNameRefusal } from './credential-names.ts';

export type Device = { id: string; name: string; createdAt: Date; lastUsedAt: Date | null };

/** What the enrolment form shows. `enrolment` is the sealed secret the form carries back. */
export type EnrolmentForm = { qrDataUrl: string; manualKey: string; enrolment: string };

const ENROLMENT_TTL_MS = 30 * 60 * 1000;
export const DEVICE_NAME_MAX = CREDENTIAL_NAME_MAX;

/** What each refusal says: `message` in English for logs and the API, `words` for the person's page. */
const REFUSED = {
  expired: ['This setup has expired. Start again to get a new QR code.', 'enrolment', { key: 'devices.enrol.expired' }],
  nameRequired: ['Give this device a name, like "My phone".', 'name', { key: 'devices.enrol.nameRequired' }],
  nameTooLong: [
    `Use at most ${DEVICE_NAME_MAX} characters for the name.`,
    'name',
    { key: 'devices.enrol.nameTooLong', values: { max: DEVICE_NAME_MAX } },
  ],
  wrongCode: [
    'That code is not right. Enter the 6-digit code your authenticator app shows now.',
    'code',
    { key: 'devices.enrol.wrongCode' },
  ],
} as const;
const refused = (why: keyof typeof REFUSED) => {
  const [message, field, words] = REFUSED[why];
  return validationError(message, field, { ...words });
};

/** What the helpdesk's authenticator reset took away: every second factor and every backup code. */
export type SecondFactorsReset = { devices: number; passkeys: number; backupCodes: number };

/** Where a device notice comes from: the page's language and school, or none (the helpdesk). */
type Notice = {
  where?: RequestContext | undefined;
  usedDeviceName?: string | undefined;
  byHelpdesk?: boolean;
  removedByHelpdesk?: number;
  passkeysRemoved?: number;
  backupCodesVoided?: number;
  helpdeskReason?: string | undefined;
};

/**
 * Authenticator devices (rule 5): enrolment by QR code, code checks with replay refusal per
 * device, removal, and the helpdesk reset. Secrets are sealed with the key store's key and never
 * leave this service after enrolment.
 */
export class AuthenticatorService {
  private readonly repositories: Repositories;
  private readonly box: SecretBox;
  private readonly mailer: Mailer;
  private readonly logger: Logger;
  private readonly audit: AuditService;
  private readonly transaction: UnitOfWork;
  private readonly serviceName: string;

  /** `serviceName` (SERVICE_NAME) is the issuer an authenticator app shows above the code. */
  constructor(
    repositories: Repositories,
    transaction: UnitOfWork,
    box: SecretBox,
    mailer: Mailer,
    logger: Logger,
    audit: AuditService,
    options: { serviceName: string },
  ) {
    this.serviceName = options.serviceName;
    this.repositories = repositories;
    this.transaction = transaction;
    this.box = box;
    this.mailer = mailer;
    this.logger = logger;
    this.audit = audit;
  }

  async list(accountId: string): Promise<Device[]> {
    const rows = await this.repositories.authenticators.listForAccount(accountId);
    return rows.map(({ id, name, createdAt, lastUsedAt }) => ({ id, name, createdAt, lastUsedAt }));
  }

  /** Whether a password alone no longer completes a sign-in: the account has a device or a passkey. */
  async hasSecondFactor(accountId: string): Promise<boolean> {
    return (await this.repositories.authenticators.countSecondFactors(accountId)) > 0;
  }

  /** A new secret, sealed into the form so that a retry after a wrong code keeps the same key. */
  async beginEnrolment(account: Account): Promise<EnrolmentForm> {
    const secret = newTotpSecret();
    const enrolment = this.box.seal(JSON.stringify({ secret, exp: Date.now() + ENROLMENT_TTL_MS }), `enrol:${account.id}`);
    return this.enrolmentForm(account, secret, enrolment);
  }

  /** The same form again, from the sealed value the page sent back; null when it is not valid. */
  async resumeEnrolment(account: Account, enrolment: string): Promise<EnrolmentForm | null> {
    const secret = this.openEnrolment(account, enrolment);
    return secret ? this.enrolmentForm(account, secret, enrolment) : null;
  }

  /** Stores the device only when the code is right; returns the new device. */
  async completeEnrolment(account: Account, enrolment: string, name: string, code: string, where: RequestContext): Promise<Device> {
    const secret = this.openEnrolment(account, enrolment);
    if (!secret) throw refused('expired');
    const nameRefused = credentialNameRefusal(name, { required: () => refused('nameRequired'), tooLong: () => refused('nameTooLong') });
    if (nameRefused) throw nameRefused;
    const trimmed = name.trim();
    const step = matchingStep(secret, code.trim());
    if (step === null) {
      await this.audit.record({
        event: 'authenticator.enrol',
        outcome: 'failure',
        reason: 'wrong_code',
        accountId: account.id,
        email: account.email,
        ...where,
      });
      throw refused('wrongCode');
    }
    const id = crypto.randomUUID();
    await this.repositories.authenticators.insert({
      id,
      accountId: account.id,
      name: trimmed,
      secretSealed: this.box.seal(secret, `totp:${id}`),
      step,
    });
    await this.audit.record({
      event: 'authenticator.enrol',
      outcome: 'success',
      accountId: account.id,
      email: account.email,
      ...where,
      detail: { deviceId: id, name: trimmed },
    });
    await this.notify(account, 'device-added', trimmed, { where });
    return { id, name: trimmed, createdAt: new Date(), lastUsedAt: new Date() };
  }

  /**
   * The device whose current code this is, when the code was not used before on it; otherwise
   * null. Which device matters: a device removed with a code from another one is named in the mail.
   */
  async verifyCode(accountId: string, code: string): Promise<string | null> {
    // Stryker disable next-line Regex: removing every whitespace character one at a time or in runs is the same.
    const trimmed = code.replace(/\s+/g, '');
    for (const device of await this.repositories.authenticators.listForAccount(accountId)) {
      const step = matchingStep(this.box.open(device.secretSealed, `totp:${device.id}`), trimmed);
      if (step !== null) return (await this.repositories.authenticators.markStepUsed(device.id, step)) ? device.id : null;
    }
    return null;
  }

  /**
   * Removes a device; the caller has already checked fresh proof. `provenWith` is the device whose
   * code gave that proof: when it is another device, the mail says so, because someone holding the
   * password and that device could be removing the owner's own.
   */
  async remove(account: Account, deviceId: string, where: RequestContext, provenWith: string | null = null): Promise<Device> {
    const devices = await this.list(account.id);
    const device = devices.find((candidate) => candidate.id === deviceId);
    if (!device) throw notFound('That device is not on your account.', { key: 'devices.notOnAccount' });
    const usedDevice = provenWith && provenWith !== deviceId ? devices.find((candidate) => candidate.id === provenWith) : undefined;
    const voidedCodes = await this.transaction(async (repositories) => {
      // The account's lock before any row: the order every backup-code change takes (see lockAccount).
      await repositories.backupCodes.lockAccount(account.id);
      await repositories.authenticators.delete(account.id, deviceId);
      return voidBackupCodesWithoutSecondFactor(repositories, account.id);
    });
    await this.audit.record({
      event: 'authenticator.remove',
      outcome: 'success',
      accountId: account.id,
      email: account.email,
      ...where,
      detail: {
        deviceId,
        name: device.name,
        ...(usedDevice ? { provenWith: usedDevice.id, provenWithName: usedDevice.name } : {}),
        ...(voidedCodes > 0 ? { backupCodesVoided: voidedCodes } : {}),
      },
    });
    await this.notify(account, 'device-removed', device.name, {
      where,
      usedDeviceName: usedDevice?.name,
      ...(voidedCodes > 0 ? { backupCodesVoided: voidedCodes } : {}),
    });
    return device;
  }

  /**
   * Helpdesk, for someone who lost everything: every authenticator device and passkey is removed
   * and every backup code voided, together, so the next sign-in is password only, at basic, until
   * the person sets up a second factor again. The person is mailed, with the helpdesk's reason
   * when one was given, in the language they last used, from the service (no school's sign-in is
   * involved).
   */
  async resetAll(account: Account, reason?: string): Promise<SecondFactorsReset> {
    // Whoever is signed in with the lost device (or passkey, or code) loses that session and its tokens.
    const reset = await this.transaction(async (repositories) => {
      // The account's lock first, as a new set of backup codes takes it: in the other order the two
      // wait on each other (a deadlock, a 500), or a set made meanwhile outlives the reset.
      await repositories.backupCodes.lockAccount(account.id);
      const removed = {
        devices: await repositories.authenticators.deleteAllFor(account.id),
        passkeys: await repositories.passkeys.deleteAllFor(account.id),
        backupCodes: await repositories.backupCodes.deleteAllFor(account.id),
      };
      await endSessions(repositories, account.id);
      return removed;
    });
    if (reset.devices + reset.passkeys + reset.backupCodes > 0) {
      await this.notify(account, 'device-removed', null, {
        byHelpdesk: true,
        removedByHelpdesk: reset.devices,
        passkeysRemoved: reset.passkeys,
        backupCodesVoided: reset.backupCodes,
        helpdeskReason: reason,
      });
    }
    return reset;
  }

  private openEnrolment(account: Account, enrolment: string): string | null {
    try {
      const { secret, exp } = JSON.parse(this.box.open(enrolment, `enrol:${account.id}`)) as { secret: string; exp: number };
      return exp > Date.now() ? secret : null;
    } catch {
      return null;
    }
  }

  private async enrolmentForm(account: Account, secret: string, enrolment: string): Promise<EnrolmentForm> {
    const qrDataUrl = await QRCode.toDataURL(otpauthUri(secret, account.email, this.serviceName), {
      errorCorrectionLevel: 'M',
      margin: 2,
      width: 240,
    });
    return { qrDataUrl, manualKey: groupedSecret(secret), enrolment };
  }

  /** The person is told (see sendAccountNotice). */
  private notify(account: Account, template: 'device-added' | 'device-removed', deviceName: string | null, notice: Notice) {
    const { where, ...details } = notice;
    return sendAccountNotice(this.mailer, this.logger, { account, template, where, data: { deviceName, ...details } });
  }
}
