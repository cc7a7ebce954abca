import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/** `from`: the sender's display name and address, as a mail program shows them. */
export type ReceivedMail = { to: string; subject: string; text: string; html: string; from: { name: string; address: string } };

/** A real SMTP server that keeps what it receives, for tests to read. */
export async function startSmtpServer() {
  const inbox: ReceivedMail[] = [];
  const waiters: Array<() => void> = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      simpleParser(stream)
        .then((mail: ParsedMail) => {
          const to = Array.isArray(mail.to) ? mail.to[0]?.text : mail.to?.text;
          const sender = mail.from?.value[0];
          inbox.push({
            to: to ?? '',
            subject: mail.subject ?? '',
            text: mail.text ?? '',
            html: String(mail.html || ''),
            from: { name: sender?.name ?? '', address: sender?.address ?? '' },
          });
          for (const wake of waiters.splice(0)) wake();
          callback();
        })
        .catch(callback);
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    inbox,
    /** Resolves with the first mail to `to` matching `subject`, waiting for it to arrive. */
    async waitFor(to: string, subject: RegExp, timeoutMs = 10_000): Promise<ReceivedMail> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = inbox.find((mail) => mail.to.toLowerCase().includes(to.toLowerCase()) && subject.test(mail.subject));
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`No mail "${subject}" to ${to} within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 200);
        });
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export function linkIn(mail: ReceivedMail): string {
  // The link carries the language of the request that asked for it (`&ui_locales=cy`).
  const link = /(https?:\/\/\S+\/password\/reset\?token=[A-Za-z0-9_-]+(?:&ui_locales=[a-z]{2})?)/.exec(mail.text)?.[1];
  if (!link) throw new Error(`No reset link in: ${mail.text}`);
  return link;
}
