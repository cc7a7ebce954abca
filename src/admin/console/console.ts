import type { Context } from 'koa';
import type { z } from 'zod';
import { accountSession } from '../../account/session.ts';
import type { Account } from '../../db/entities/index.ts';
import { passedCode } from '../../domain/access.ts';
import { PageError } from '../../http/page-error.ts';
import { pageHelpers, type PageDeps } from '../../interactions/pages.ts';
import { type Authority, isAdministrator } from '../authority.ts';
import { fields, isStorableText } from '../fields.ts';

export type Administrator = { authority: Authority; account: Account };

const STEP_UP_COOKIE = 'gatehouse.admin_step_up';

/** Field -> message, for a form shown again with its errors next to the fields. */
export type FieldErrors = Record<string, string>;

/** A form checked at the edge: its data, or what is wrong with each field in words. */
export function readForm<T extends z.ZodType>(
  schema: T,
  body: unknown,
): { data: z.infer<T>; errors?: undefined } | { data?: undefined; errors: FieldErrors } {
  const result = schema.safeParse(body ?? {});
  if (result.success) return { data: result.data };
  const errors: FieldErrors = {};
  for (const issue of result.error.issues) {
    const field = String(issue.path[0] ?? 'form');
    errors[field] ??= issue.message.charAt(0).toUpperCase() + issue.message.slice(1);
  }
  return { errors };
}

const NOT_FOUND = new PageError(404, 'consoleNotFound');

/** An id from the path: anything that is not one is a page that does not exist. */
export function idOf(value: unknown): string {
  const parsed = fields.id.safeParse(value);
  if (!parsed.success) throw NOT_FOUND;
  return parsed.data;
}

/** A query string of the given values, leaving out the empty ones. */
export function queryString(values: Record<string, string | undefined>): string {
  const present = Object.entries(values).filter((entry): entry is [string, string] => Boolean(entry[1]));
  return present.length > 0 ? `?${new URLSearchParams(present)}` : '';
}

/** A query parameter as text worth using: one value, not empty, not too long, storable (else ignored). */
export const queryText = (value: unknown, max = 200): string | undefined =>
  typeof value === 'string' && value.trim() !== '' && value.length <= max && isStorableText(value) ? value.trim() : undefined;

/**
 * The console signs in through Gatehouse like /account and needs higher access: the code (a
 * person without an authenticator is taken through enrolment first). No role: a 403 page.
 */
export function consoleHelpers(deps: PageDeps) {
  const { provider, services } = deps;
  const { page } = pageHelpers(deps);
  const sessions = accountSession(provider, services);

  async function administrator(ctx: Context): Promise<Administrator | null> {
    const current = await sessions.current(ctx);
    const stepped = ctx.cookies.get(STEP_UP_COOKIE) === '1';
    if (!current || !passedCode(current.amr)) {
      if (ctx.method !== 'GET') throw new PageError(401, 'signedOut');
      if (current && stepped) {
        throw new PageError(403, 'consoleNeedsCode');
      }
      // Once per visit: if the person comes back without a code, say so instead of looping.
      if (current)
        ctx.cookies.set(STEP_UP_COOKIE, '1', { httpOnly: true, sameSite: 'lax', secure: ctx.secure, path: '/admin', maxAge: 120_000 });
      sessions.startSignIn(ctx, ctx.url, { higher: true });
      return null;
    }
    if (stepped) ctx.cookies.set(STEP_UP_COOKIE, null, { path: '/admin' });
    const authority = await services.admin.authorityOf(
      { kind: 'person', accountId: current.account.id, email: current.account.email },
      ctx.ip,
    );
    if (!isAdministrator(authority)) {
      throw new PageError(403, 'noAdministration');
    }
    const admin = { authority, account: current.account };
    ctx.state.administrator = admin;
    return admin;
  }

  /** A console page: the wide layout, the navigation for the administrator's role, a CSRF token. */
  function view(ctx: Context, admin: Administrator, name: string, context: Record<string, unknown>, status = 200) {
    page(ctx, name, { ...context, wide: true, console: true, helpdesk: admin.authority.helpdesk, signedInAs: admin.account.email }, status);
  }

  function redirect(ctx: Context, location: string) {
    ctx.status = 303;
    ctx.redirect(location);
  }

  return { administrator, view, redirect };
}

export type ConsoleHelpers = ReturnType<typeof consoleHelpers>;
