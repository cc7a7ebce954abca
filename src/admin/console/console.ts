import type { Context } from 'koa';
import type { z } from 'zod';
import { accountSession } from '../../account/session.ts';
import type { Account } from '../../db/entities/index.ts';
import { passedSecondFactor } from '../../domain/access.ts';
import type { DomainError } from '../../domain/errors.ts';
import { PageError } from '../../http/page-error.ts';
import type { Message } from '../../i18n/words.ts';
import { pageHelpers, type PageDeps } from '../../interactions/pages.ts';
import { type Authority, isAdministrator } from '../authority.ts';
import { fields, isStorableText } from '../fields.ts';

export type Administrator = { authority: Authority; account: Account };

const STEP_UP_COOKIE = 'gatehouse.admin_step_up';

/** Field -> message, for a form shown again with its errors next to the fields (in the reader's words). */
export type FieldErrors = Record<string, string>;

/** Words for the person on this request: a key under locales/ (with values) or a Message. */
export type Say = (message: Message | string, values?: Message['values']) => string;

/**
 * The words of a form problem the console's schemas (and fields.ts) say in English, for the
 * reader's language; the English of each is the message itself, capitalised. A problem not
 * listed here (a tampered form) is shown in its English.
 */
const ISSUE_WORDS: ReadonlyArray<readonly [RegExp, string]> = [
  [/^must be an email address$/, 'email'],
  [/^must not be empty$/, 'empty'],
  [/^must be at most (?<max>\d+) characters$/, 'tooLong'],
  [/^must be text$/, 'text'],
  [/^must be basic or higher$/, 'level'],
  [/^must be helpdesk or school-admin$/, 'role'],
  [/^must be an id \(a UUID\)$/, 'id'],
  [/^must be addresses, one a line$/, 'addresses'],
  [/^must have at least one address$/, 'noAddress'],
  [/^must be at most 20 addresses$/, 'tooManyAddresses'],
  [/^must be schools from the list$/, 'schoolsFromList'],
  [/^must be school ids \(each a UUID/, 'schoolIdsUuid'],
  [/^must be school ids$/, 'schoolIds'],
  [/^Choose at least one school, or give its id$/, 'chooseSchools'],
  [/^A school administrator API client needs the schools it administers/, 'schoolAdminNeedsSchools'],
  [/^Choose a school, or give its id$/, 'chooseSchool'],
];

/** A form problem as a Message, when the console has words for it. */
export function issueWords(message: string): Message | undefined {
  for (const [pattern, key] of ISSUE_WORDS) {
    const match = pattern.exec(message);
    if (match) return { key: `console.fieldErrors.${key}`, values: { ...match.groups } };
  }
  return undefined;
}

/** A form checked at the edge: its data, or what is wrong with each field in the reader's words. */
export function readForm<T extends z.ZodType>(
  schema: T,
  body: unknown,
  say: Say,
): { data: z.infer<T>; errors?: undefined } | { data?: undefined; errors: FieldErrors } {
  const result = schema.safeParse(body ?? {});
  if (result.success) return { data: result.data };
  const errors: FieldErrors = {};
  for (const issue of result.error.issues) {
    const field = String(issue.path[0] ?? 'form');
    const words = issueWords(issue.message);
    errors[field] ??= words ? say(words) : issue.message.charAt(0).toUpperCase() + issue.message.slice(1);
  }
  return { errors };
}

/** What a page says of a domain refusal: its words in the reader's language when it has them, else its English. */
export const saidOf = (say: Say, error: DomainError): string => (error.words ? say(error.words) : error.message);

export const NOT_FOUND = new PageError(404, 'consoleNotFound');

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
  const { page, say } = pageHelpers(deps);
  const sessions = accountSession(provider, services);

  async function administrator(ctx: Context): Promise<Administrator | null> {
    const current = await sessions.current(ctx);
    const stepped = ctx.cookies.get(STEP_UP_COOKIE) === '1';
    if (!current || !passedSecondFactor(current.amr)) {
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

  /** Words for the person on this request, in the page's language. */
  const sayer =
    (ctx: Context): Say =>
    (message, values) =>
      say(ctx, message, values);

  /** The request's form, checked: problems in the page's language. */
  const formOf = <T extends z.ZodType>(ctx: Context, schema: T, body: unknown = ctx.request.body) => readForm(schema, body, sayer(ctx));

  return { administrator, view, redirect, say: sayer, formOf };
}

export type ConsoleHelpers = ReturnType<typeof consoleHelpers>;
