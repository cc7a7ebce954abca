import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Logger } from 'pino';

export type MailTemplate = 'password-reset' | 'password-changed' | 'device-added' | 'device-removed' | 'guessing-warning';

export type MailMessage = { to: string; template: MailTemplate; data: Record<string, unknown> };

export interface Mailer {
  send(message: MailMessage): Promise<void>;
  close(): void;
}

const SUBJECTS: Record<MailTemplate, string> = {
  'password-reset': 'Set your Gatehouse password',
  'password-changed': 'Your Gatehouse password was changed',
  'device-added': 'An authenticator was added to your Gatehouse account',
  'device-removed': 'An authenticator was removed from your Gatehouse account',
  'guessing-warning': 'Someone is trying to sign in to your Gatehouse account',
};

const TEMPLATE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'templates');

type Compiled = { text: Handlebars.TemplateDelegate; html: Handlebars.TemplateDelegate };

export async function createMailer(options: {
  smtpUrl: string | undefined;
  from: string;
  dataDir: string;
  logger: Logger;
}): Promise<Mailer> {
  const templates = await compileTemplates();
  const outbox = path.join(options.dataDir, 'outbox');
  const transport: Transporter = options.smtpUrl
    ? nodemailer.createTransport(options.smtpUrl)
    : nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });

  return {
    async send({ to, template, data }) {
      const compiled = templates[template];
      const info = await transport.sendMail({
        from: options.from,
        to,
        subject: SUBJECTS[template],
        text: compiled.text(data),
        html: compiled.html(data),
      });
      if (options.smtpUrl) {
        options.logger.info({ template, messageId: info.messageId }, 'mail sent');
        return;
      }
      // Development without SMTP: keep the message as a file, and say where its link points.
      await fs.mkdir(outbox, { recursive: true, mode: 0o700 });
      const file = path.join(outbox, `${Date.now()}-${crypto.randomBytes(4).toString('hex')}.eml`);
      await fs.writeFile(file, (info as unknown as { message: Buffer }).message, { mode: 0o600 });
      options.logger.info({ template, file, link: data.link }, 'mail written to outbox (no SMTP_URL)');
    },
    close() {
      transport.close();
    },
  };
}

async function compileTemplates(): Promise<Record<MailTemplate, Compiled>> {
  const names = Object.keys(SUBJECTS) as MailTemplate[];
  const entries = await Promise.all(
    names.map(async (name) => {
      const [text, html] = await Promise.all([
        fs.readFile(path.join(TEMPLATE_DIR, `${name}.text.hbs`), 'utf8'),
        fs.readFile(path.join(TEMPLATE_DIR, `${name}.html.hbs`), 'utf8'),
      ]);
      // Plain text is not HTML: escaping it would turn & in links into &amp;.
      return [name, { text: Handlebars.compile(text, { noEscape: true }), html: Handlebars.compile(html) }] as const;
    }),
  );
  return Object.fromEntries(entries) as Record<MailTemplate, Compiled>;
}
