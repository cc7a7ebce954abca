import crypto from 'node:crypto';
import pino from 'pino';
import { operatorAuthority } from '../src/admin/authority.ts';
import { THROTTLE, ThrottleService } from '../src/auth/throttle.ts';
import { AuthenticationService } from '../src/domain/authentication.ts';
import { LANGUAGES, type Language } from '../src/i18n/languages.ts';
import { formatDateTime } from '../src/i18n/time.ts';
import { createWords } from '../src/i18n/words.ts';
import { createMailer, type MailTemplate } from '../src/mail/mailer.ts';
import { visibleText } from './support/agent.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import {
  Agent,
  addClient,
  addSchool,
  addStaff,
  authorizationRequest,
  relyingParty,
  REDIRECT_URI,
  start,
  submitLogin,
} from './support/scenario.ts';
import { startSmtpServer, type ReceivedMail } from './support/smtp.ts';

/**
 * Mails in the person's language, from the school whose sign-in they come from (else from
 * SERVICE_NAME), in UK time, ending with who sent them and the helpdesk: received by a real
 * SMTP server, as a mail program would show them.
 */

const SERVICE = 'Ceredigion Schools Sign-In';
const HELPDESK = 'Desg gymorth / Helpdesk 01970 633 000';
const SENDER = 'sso@ceredigion.test';
const SCHOOL = 'Ysgol Gymraeg Aberystwyth';
const brand = { serviceName: SERVICE, helpdeskContact: HELPDESK };
const words = createWords(brand, { strict: true });
const signature = (language: Language, sender: string) => words.t(language, 'mail.signature', { sender });
const helpdeskLine = (language: Language) => words.t(language, 'mail.helpdeskContact');
const readable = (html: string) =>
  visibleText(html)
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&#x3D;/g, '=');

let storage: TestStorage;
let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
let gatehouse: TestGatehouse;

beforeAll(async () => {
  storage = await createTestStorage();
  smtp = await startSmtpServer();
  gatehouse = await startTestGatehouse(storage, {
    SMTP_URL: smtp.url,
    TRUST_PROXY: 'true',
    // The display name in MAIL_FROM is not used: each mail is sent in the school's or the service's name.
    MAIL_FROM: `Old Name <${SENDER}>`,
    SERVICE_NAME: SERVICE,
    HELPDESK_CONTACT: HELPDESK,
  });
});

afterAll(async () => {
  await gatehouse?.close();
  await smtp?.close();
  await storage?.drop();
});

const summer = new Date('2026-07-01T12:00:00Z');
const examples: Array<[MailTemplate, Record<string, unknown>]> = [
  ['password-reset', { link: 'https://sso.example/password/reset?token=abc&next=1', lifetime: 60 }],
  ['password-changed', { changedAt: summer }],
  ['device-added', { deviceName: 'Ffôn <newydd>', when: summer }],
  ['device-removed', { deviceName: 'Phone', usedDeviceName: 'Tablet', when: summer }],
  ['device-removed', { deviceName: null, byHelpdesk: true, removedByHelpdesk: 2, helpdeskReason: 'Lost & found', when: summer }],
  ['device-removed', { deviceName: null, byHelpdesk: true, removedByHelpdesk: 0, passkeysRemoved: 3, backupCodesVoided: 7, when: summer }],
  ['device-removed', { deviceName: null, byHelpdesk: true, removedByHelpdesk: 1, passkeysRemoved: 1, when: summer }],
  ['backup-codes-created', { when: summer }],
  ['backup-code-used', { left: 4, when: summer }],
  ['backup-code-used', { left: 0, when: summer }],
  ['passkey-added', { passkeyName: 'Gliniadur <ysgol>', when: summer }],
  ['passkey-removed', { passkeyName: 'Laptop', when: summer }],
  ['passkey-removed', { passkeyName: 'Laptop', backupCodesVoided: 7, when: summer }],
  ['guessing-warning', { code: true, failures: THROTTLE.warnAfter, limit: THROTTLE.blockAfter }],
  ['guessing-warning', { code: false, failures: THROTTLE.warnAfter, limit: THROTTLE.blockAfter }],
];

describe('every mail, in both languages', () => {
  const school = 'Ysgol Gâr, "Y Cwm" & Co';

  test.each(LANGUAGES.flatMap((language) => examples.map(([template, data], i) => [language, template, i, data] as const)))(
    '%s %s (%i): words from locales/, the school as sender and in the subject, UK time, the helpdesk',
    async (language, template, i, data) => {
      const mailer = await createMailer({
        smtpUrl: smtp.url,
        from: SENDER,
        dataDir: storage.dataDir,
        logger: pino({ level: 'silent' }),
        words,
        ...brand,
      });
      const to = `${language}.${i}@hill.example`;
      try {
        await mailer.send({ to, template, language, schoolName: school, data: { name: 'Jo <Bloggs>', email: to, ...data } });
      } finally {
        mailer.close();
      }
      const mail = await smtp.waitFor(to, /./);
      // A display name with a comma, quotes and a Welsh letter arrives whole, at MAIL_FROM's address.
      expect(mail.from).toEqual({ name: school, address: SENDER });
      const area = {
        'password-reset': 'passwordReset',
        'password-changed': 'passwordChanged',
        'device-added': 'deviceAdded',
        'device-removed': 'deviceRemoved',
        'guessing-warning': 'guessingWarning',
        'backup-codes-created': 'backupCodesCreated',
        'backup-code-used': 'backupCodeUsed',
        'passkey-added': 'passkeyAdded',
        'passkey-removed': 'passkeyRemoved',
      }[template];
      expect(mail.subject).toBe(words.t(language, `mail.${area}.subjectForSchool`, { school }));
      expect(mail.subject).toContain(school);
      expect(mail.html).toContain(`<html lang="${language}">`);
      for (const text of [mail.text, readable(mail.html)]) {
        expect(text).toContain(words.t(language, 'mail.greeting', { name: 'Jo <Bloggs>' }));
        expect(text).toContain(signature(language, school));
        expect(text).toContain(helpdeskLine(language));
        expect(text).toContain(HELPDESK);
        // The account is the service's; "Gatehouse" is nowhere when SERVICE_NAME says otherwise.
        expect(text).not.toMatch(/Gatehouse/);
        // The last second factor gone, the codes went with it: the mail says so, and only then.
        expect(text.includes(words.t(language, 'mail.deviceRemoved.backupCodesVoided'))).toBe(Boolean(data.backupCodesVoided));
        if (data.when || data.changedAt) {
          // 12:00 UTC on 1 July is 13:00 in the UK (BST), written in the mail's language.
          expect(text).toContain(formatDateTime(summer, language));
          expect(text).toContain('13:00');
        }
      }
      // Plain text is not HTML, and HTML escapes what people typed.
      expect(mail.text).not.toMatch(/<strong>|&amp;|&lt;/);
      expect(mail.html).not.toContain('<Bloggs>');
      if (template === 'password-reset') expect(mail.text).toContain('https://sso.example/password/reset?token=abc&next=1');
    },
  );

  test('a mail from no school is in the service’s name, and says so in its subject', async () => {
    const mailer = await createMailer({
      smtpUrl: smtp.url,
      from: SENDER,
      dataDir: storage.dataDir,
      logger: pino({ level: 'silent' }),
      words,
      ...brand,
    });
    try {
      await mailer.send({
        to: 'plain@hill.example',
        template: 'password-changed',
        language: 'en',
        schoolName: null,
        data: { email: 'plain@hill.example', changedAt: summer },
      });
    } finally {
      mailer.close();
    }
    const mail = await smtp.waitFor('plain@hill.example', /./);
    expect(mail.from).toEqual({ name: SERVICE, address: SENDER });
    expect(mail.subject).toBe(`Your ${SERVICE} password was changed`);
    expect(mail.text).toContain(`${SERVICE} Single Sign-On`);
    expect(mail.text.split('\n')[0]).toBe('Hello,');
  });

  test('without SMTP_URL the mail is kept in the outbox and its link is logged at a level the demo shows', async () => {
    const lines: Array<{ level: number; msg: string; link?: string; file?: string }> = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const mailer = await createMailer({ smtpUrl: undefined, from: SENDER, dataDir: storage.dataDir, logger, words, ...brand });
    const link = 'http://localhost:3000/password/reset?token=outboxed';
    await mailer.send({
      to: 'outbox@hill.example',
      template: 'password-reset',
      language: 'cy',
      data: { email: 'outbox@hill.example', link, lifetime: 60 },
    });
    mailer.close();
    expect(lines).toEqual([expect.objectContaining({ level: 40, link, msg: 'mail written to outbox (no SMTP_URL)' })]);
    expect(lines[0]!.file).toContain(`${storage.dataDir}/outbox/`);
  });
});

describe('the language and sender of the mails Gatehouse sends', () => {
  const helpdeskReset = async (email: string, language: Language | null) => {
    const account = await addStaff(gatehouse.services, email, []);
    if (language) await gatehouse.services.repositories.accounts.setLanguage(account.id, language);
    const deviceId = crypto.randomUUID();
    await gatehouse.services.repositories.authenticators.insert({
      id: deviceId,
      accountId: account.id,
      name: 'Hen ffôn',
      secretSealed: gatehouse.services.box.seal('PE2XQOK6OZIFISKUKUQTAUBVIZIWGJCT', `totp:${deviceId}`),
      step: 0,
    });
    const before = new Date();
    await gatehouse.services.admin.people.resetAuthenticators(operatorAuthority('test'), account.id, 'Ffôn ar goll (tocyn 4711)');
    const after = new Date();
    return { mail: await smtp.waitFor(email, /./), before, after };
  };

  /** The mail says when, to the minute, in UK time and its own language. */
  const saysWhen = (mail: ReceivedMail, language: Language, before: Date, after: Date) =>
    [formatDateTime(before, language), formatDateTime(after, language)].some((when) => mail.text.includes(when));

  test('with nobody on a page (a helpdesk reset), the mail is in the language the account last used', async () => {
    const { mail, before, after } = await helpdeskReset('cymraeg@hill.example', 'cy');
    expect(mail.subject).toBe(`Tynnwyd dyfais ddilysu o’ch cyfrif ${SERVICE}`);
    expect(mail.from).toEqual({ name: SERVICE, address: SENDER });
    expect(mail.html).toContain('<html lang="cy">');
    expect(mail.text).toContain('Tynnodd eich desg gymorth y ddyfais ddilysu');
    expect(mail.text).toContain('Rhoddodd y ddesg gymorth y rheswm hwn: Ffôn ar goll (tocyn 4711)');
    expect(mail.text).toContain(`Mewngofnodi Sengl ${SERVICE}`);
    expect(mail.text).toContain(`Desg gymorth TG: ${HELPDESK}`);
    expect(saysWhen(mail, 'cy', before, after)).toBe(true);
    expect(mail.text).not.toMatch(/GMT|UTC/);
  });

  test('an account that never chose a language gets English', async () => {
    const { mail, before, after } = await helpdeskReset('english@hill.example', null);
    expect(mail.subject).toBe(`An authenticator was removed from your ${SERVICE} account`);
    expect(mail.html).toContain('<html lang="en">');
    expect(mail.text).toContain(`${SERVICE} Single Sign-On`);
    expect(mail.text).toContain(`IT helpdesk: ${HELPDESK}`);
    expect(saysWhen(mail, 'en', before, after)).toBe(true);
  });

  /** The server's own sign-in check, without the growing delays, for the failures before the last. */
  const undelayed = () => {
    const { repositories, authenticators, audit, mailer, logger } = gatehouse.services;
    return new AuthenticationService(
      repositories,
      new ThrottleService(repositories.throttle, async () => {}),
      authenticators,
      audit,
      mailer,
      logger,
    );
  };
  const guessUntilWarned = async (email: string, last: (service: AuthenticationService) => Promise<unknown>) => {
    const service = undelayed();
    // Each from its own address: no delay, no lock; the account's run of failures grows to the limit.
    for (let i = 0; i < THROTTLE.warnAfter; i += 1) await service.checkPassword(email, `guess ${i}`, { ip: `198.51.100.${i + 1}` });
    await service.drain();
    expect(smtp.inbox.filter((mail) => mail.to.includes(email))).toEqual([]);
    await last(service);
    await service.drain();
    return smtp.waitFor(email, /./);
  };

  test('the guessing warning is in the language of the attempt’s page, from the school whose sign-in it was', async () => {
    const email = 'guessed@hill.example';
    await addStaff(gatehouse.services, email, []);
    const mail = await guessUntilWarned(email, (service) =>
      service.checkPassword(email, 'one more guess', { ip: '198.51.100.200', language: 'cy', schoolName: SCHOOL }),
    );
    expect(mail.subject).toBe(`Mae rhywun yn ceisio mewngofnodi i’ch cyfrif ar gyfer ${SCHOOL}`);
    expect(mail.from).toEqual({ name: SCHOOL, address: SENDER });
    expect(mail.text).toContain(`fwy na ${THROTTLE.warnAfter} o weithiau yn olynol`);
    expect(mail.text).toContain(`Mewngofnodi Sengl ${SCHOOL}`);
  });

  test('a sign-in through a school’s system that asks for Welsh: the warning names that school, in Welsh', async () => {
    const { services } = gatehouse;
    const school = await addSchool(services, SCHOOL, 'SY23 3AS');
    const credentials = await addClient(services, `${SCHOOL} MIS`, [school.id]);
    const email = 'guessed.online@hill.example';
    await addStaff(services, email, [{ schoolId: school.id, accessLevel: 'basic' }]);
    const mail = await guessUntilWarned(email, async () => {
      const agent = new Agent(REDIRECT_URI);
      agent.headers['x-forwarded-for'] = '198.51.100.201';
      const login = await start(agent, await authorizationRequest(await relyingParty(gatehouse.issuer, credentials), { ui_locales: 'cy' }));
      expect((await submitLogin(agent, login, email, 'the last guess')).status).toBe(401);
    });
    expect(mail.subject).toBe(`Mae rhywun yn ceisio mewngofnodi i’ch cyfrif ar gyfer ${SCHOOL}`);
    expect(mail.from).toEqual({ name: SCHOOL, address: SENDER });
    expect(mail.html).toContain('<html lang="cy">');
  });
});
