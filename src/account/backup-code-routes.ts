import type { Context } from 'koa';
import { z } from 'zod';
import type { Account } from '../db/entities/index.ts';
import { backupCodeSetOf } from '../domain/backup-codes.ts';
import { isDomainError } from '../domain/errors.ts';
import { forms } from '../http/forms.ts';
import { formatDateTime } from '../i18n/time.ts';
import { BAD_FORM, languageOfRequest } from '../interactions/pages.ts';
import { parseForm } from '../interactions/schemas.ts';
import { KEYS, type AccountPages } from './security-keys.ts';

const createForm = z.object({
  replacing: z
    .string()
    .max(20)
    .regex(/^(?:none|\d+)$/)
    .default('none'),
});

/**
 * The codes as a text file, for "Download": made here, so it works without the page's script, and
 * handed over as a data: URL on an <a download>, so the codes never sit at an address of their
 * own that a reload or the history could fetch again.
 */
function downloadOf(kit: AccountPages, ctx: Context, account: Account, codes: string[]) {
  const lines = [
    // The file may outlive its tab: it says which account, and where (the school, else the service).
    kit.say(ctx, 'recovery.file.heading', { email: account.email, site: ctx.state.schoolName ?? kit.services.config.serviceName }),
    kit.say(ctx, 'recovery.file.created', { when: formatDateTime(new Date(), languageOfRequest(ctx)) }),
    '',
    ...codes,
    '',
  ];
  return {
    href: `data:text/plain;charset=utf-8,${encodeURIComponent(lines.join('\r\n'))}`,
    name: kit.say(ctx, 'recovery.file.name'),
  };
}

/**
 * Account settings > Security keys > Backup codes: a page that says what they are and makes a
 * new set (fresh proof first, as for adding a device), and the ten codes, shown once in the
 * response to that post (never stored where a later request could read them).
 */
export function backupCodeRoutes(kit: AccountPages): void {
  const { router, services, csrf, page, signedIn, freshProofOrConfirm, whereOf } = kit;
  const BACKUP_CODES = `${KEYS}/backup-codes`;

  const createPage = async (ctx: Context, account: Account, status = 200, alreadyShown = false) => {
    const summary = await services.backupCodes.summary(account.id);
    page(ctx, 'create-backup-codes', { tab: 'keys', backupCodes: summary, replacing: backupCodeSetOf(summary), alreadyShown }, status);
  };

  router.get(BACKUP_CODES, async (ctx) => {
    const current = await signedIn(ctx);
    if (!current) return;
    // Offered only with a second factor to stand in for: without one, the section says to add one.
    if (!(await services.authenticators.hasSecondFactor(current.account.id))) return ctx.redirect(KEYS);
    if (!(await freshProofOrConfirm(ctx, current, BACKUP_CODES))) return;
    await createPage(ctx, current.account);
  });

  router.post(BACKUP_CODES, forms, csrf.verify, async (ctx) => {
    const current = (await signedIn(ctx))!;
    if (!(await freshProofOrConfirm(ctx, current, BACKUP_CODES))) return;
    const form = parseForm(createForm, ctx.request.body);
    if (!form) throw BAD_FORM;
    let codes: string[];
    try {
      // The set the page was shown with is checked where the new one is written, under one lock.
      codes = await services.backupCodes.create(current.account, whereOf(ctx), form.replacing);
    } catch (error) {
      // A page older than the current codes (a second post, a reload, the back button): they were shown already.
      if (isDomainError(error) && error.kind === 'conflict') return createPage(ctx, current.account, 409, true);
      throw error;
    }
    page(ctx, 'backup-codes', { tab: 'keys', account: current.account, codes, download: downloadOf(kit, ctx, current.account, codes) });
  });
}
