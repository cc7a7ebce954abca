import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Logger } from 'pino';
import { registerWordHelpers } from '../i18n/handlebars.ts';
import { DEFAULT_LANGUAGE, isLanguage, type Language } from '../i18n/languages.ts';
import type { Words } from '../i18n/words.ts';
import type { Account } from '../db/entities/index.ts';
import type { RequestContext } from '../domain/audit.ts';

export type MailTemplate =
  | 'password-reset'
  | 'password-changed'
  | 'device-added'
  | 'device-removed'
  | 'guessing-warning'
  | 'backup-codes-created'
  | 'backup-code-used'
  | 'passkey-added'
  | 'passkey-removed';

/**
 * One mail to one person. `language`: the page's language when the person is on one, else the
 * account's (see `languageOfMail`). `schoolName`: the school whose sign-in the mail comes from;
 * it is the sender's display name and is named in the subject (else SERVICE_NAME is). Times in
 * `data` are Date objects: the templates show them in UK time, in the mail's language.
 */
export type MailMessage = {
  to: string;
  template: MailTemplate;
  data: Record<string, unknown>;
  language: Language;
  schoolName?: string | null | undefined;
};

export interface Mailer {
  send(message: MailMessage): Promise<void>;
  close(): void;
}

/** The words of each mail are under `mail.<area>` in locales/<language>/mail.json. */
const AREAS: Record<MailTemplate, string> = {
  'password-reset': 'passwordReset',
  'password-changed': 'passwordChanged',
  'device-added': 'deviceAdded',
  'device-removed': 'deviceRemoved',
  'guessing-warning': 'guessingWarning',
  'backup-codes-created': 'backupCodesCreated',
  'backup-code-used': 'backupCodeUsed',
  'passkey-added': 'passkeyAdded',
  'passkey-removed': 'passkeyRemoved',
};

/**
 * The language of a mail to `account`: the page's, when the action happened on one (`where`),
 * else the one the person last used (stored with the account), else English.
 */
export function languageOfMail(account: { language?: string | null }, where?: { language?: Language | undefined }): Language {
  if (where?.language) return where.language;
  return isLanguage(account.language) ? account.language : DEFAULT_LANGUAGE;
}

/**
 * A notice to the account's owner that how they sign in changed (a device, a passkey, backup
 * codes): in the language of the page it was changed on (else theirs), from the school whose
 * system it came through (`where`), with the time. Not sent is logged, not thrown: the change it
 * tells about has already happened.
 */
export async function sendAccountNotice(
  mailer: Mailer,
  logger: Logger,
  notice: { account: Account; template: MailTemplate; where?: RequestContext | undefined; data: Record<string, unknown> },
): Promise<void> {
  const { account, template, where, data } = notice;
  try {
    await mailer.send({
      to: account.email,
      template,
      language: languageOfMail(account, where),
      schoolName: where?.schoolName,
      data: { name: account.name, email: account.email, ...data, when: new Date() },
    });
  } catch (error) {
    logger.error({ err: error, template }, 'could not send a notice to the account');
  }
}

const TEMPLATE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'templates');

type Compiled = { text: Handlebars.TemplateDelegate; html: Handlebars.TemplateDelegate };

export async function createMailer(options: {
  smtpUrl: string | undefined;
  /** The sender's address (MAIL_FROM's address): the display name is chosen per mail. */
  from: string;
  dataDir: string;
  logger: Logger;
  words: Words;
  serviceName: string;
  helpdeskContact: string | undefined;
}): Promise<Mailer> {
  const { words, serviceName, helpdeskContact } = options;
  const { layout, bodies } = await compileTemplates(words, { serviceName, helpdeskContact });
  const outbox = path.join(options.dataDir, 'outbox');
  const transport: Transporter = options.smtpUrl
    ? nodemailer.createTransport(options.smtpUrl)
    : nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });

  return {
    async send({ to, template, data, language, schoolName }) {
      const school = schoolName?.trim() || undefined;
      const sender = school ?? serviceName;
      const subject = words.t(language, `mail.${AREAS[template]}.${school ? 'subjectForSchool' : 'subject'}`, { school });
      const context = { ...data, language, sender, subject, helpdeskContact };
      const compiled = bodies[template];
      const info = await transport.sendMail({
        // An address object: nodemailer quotes and encodes a name with commas, quotes or Welsh letters.
        from: { name: sender, address: options.from },
        to,
        subject,
        text: tidyText(layout.text({ ...context, body: tidyText(compiled.text(context)) })),
        html: layout.html({ ...context, body: compiled.html(context) }),
      });
      if (options.smtpUrl) {
        options.logger.info({ template, language, messageId: info.messageId }, 'mail sent');
        return;
      }
      // Development without SMTP: keep the message as a file, and say where its link points. At
      // warn, so that it shows at the demo's log level: this path is for development only.
      await fs.mkdir(outbox, { recursive: true, mode: 0o700 });
      const file = path.join(outbox, `${Date.now()}-${crypto.randomBytes(4).toString('hex')}.eml`);
      await fs.writeFile(file, (info as unknown as { message: Buffer }).message, { mode: 0o600 });
      options.logger.warn({ template, to, file, link: data.link }, 'mail written to outbox (no SMTP_URL)');
    },
    close() {
      transport.close();
    },
  };
}

/** Blocks that are left out leave blank lines behind: at most one blank line between paragraphs. */
const tidyText = (text: string) =>
  text
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();

async function compileTemplates(
  words: Words,
  brand: { serviceName: string; helpdeskContact: string | undefined },
): Promise<{ layout: Compiled; bodies: Record<MailTemplate, Compiled> }> {
  const handlebars = Handlebars.create();
  registerWordHelpers(handlebars, words, brand);
  // A value in bold inside words with markup (`tHtml`): escaped, then wrapped.
  handlebars.registerHelper(
    'strong',
    (value: unknown) => new Handlebars.SafeString(`<strong>${Handlebars.escapeExpression(String(value ?? ''))}</strong>`),
  );
  // The same value in plain text, set off by quotes.
  handlebars.registerHelper('quoted', (value: unknown) => `"${String(value ?? '')}"`);
  const compile = async (name: string): Promise<Compiled> => {
    const [text, html] = await Promise.all([
      fs.readFile(path.join(TEMPLATE_DIR, `${name}.text.hbs`), 'utf8'),
      fs.readFile(path.join(TEMPLATE_DIR, `${name}.html.hbs`), 'utf8'),
    ]);
    // Plain text is not HTML: escaping it would turn & in links into &amp;.
    return { text: handlebars.compile(text, { noEscape: true }), html: handlebars.compile(html) };
  };
  const names = Object.keys(AREAS) as MailTemplate[];
  const entries = await Promise.all(names.map(async (name) => [name, await compile(name)] as const));
  return { layout: await compile('layout'), bodies: Object.fromEntries(entries) as Record<MailTemplate, Compiled> };
}
