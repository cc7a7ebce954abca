import type { Context } from 'koa';
import type { Account } from '../db/entities/index.ts';
import type { RequestContext } from '../domain/audit.ts';
import type { Device } from '../domain/authenticators.ts';
import { isDomainError } from '../domain/errors.ts';
import type { Services } from '../services.ts';
import { BAD_FORM, languageOfRequest } from '../interactions/pages.ts';
import { enrolForm, parseForm } from '../interactions/schemas.ts';

type Page = (ctx: Context, view: string, context: Record<string, unknown>, status?: number) => void;

/**
 * "Add new device", shared by /account and the enrolment inside a sign-in: the QR code, the key
 * written out, Name and Code. A wrong code shows the same key again with the error.
 */
export async function showEnrolment(services: Services, page: Page, ctx: Context, account: Account, context: Record<string, unknown>) {
  const form = await services.authenticators.beginEnrolment(account);
  page(ctx, 'enrol', { ...context, ...form, email: account.email });
}

export async function submitEnrolment(
  services: Services,
  page: Page,
  ctx: Context,
  account: Account,
  context: Record<string, unknown>,
  where: RequestContext,
): Promise<Device | null> {
  const input = parseForm(enrolForm, ctx.request.body);
  if (!input) throw BAD_FORM;
  try {
    return await services.authenticators.completeEnrolment(account, input.enrolment, input.name, input.code, where);
  } catch (error) {
    if (!isDomainError(error) || error.kind !== 'validation') throw error;
    const form =
      (await services.authenticators.resumeEnrolment(account, input.enrolment)) ?? (await services.authenticators.beginEnrolment(account));
    page(
      ctx,
      'enrol',
      {
        ...context,
        ...form,
        email: account.email,
        name: input.name,
        // The domain's words for the page, in the reader's language (its English message if it has none).
        [`${error.field}Error`]: error.words
          ? services.words.t(languageOfRequest(ctx), error.words.key, error.words.values)
          : error.message,
      },
      400,
    );
    return null;
  }
}
