import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import { isDatabaseUnavailable, RETRY_AFTER_SECONDS } from '../db/unavailable.ts';
import { isDomainError, STATUS_OF_KIND } from '../domain/errors.ts';
import type { Language } from '../i18n/languages.ts';
import type { Message, Words } from '../i18n/words.ts';
import { manageAccountLink } from '../interactions/branding.ts';
import { hereOf, languageOf } from './language.ts';
import { PageError } from './page-error.ts';
import type { ViewRenderer } from './views.ts';

/**
 * What an error page says: `errors.<key>.heading` and `.detail` in locales/, and its status.
 * `words` (a domain rule's own message, translated) or else `said` (its English) replaces the detail.
 */
export type ErrorWords = { status: number; key: string; values?: Record<string, unknown>; said?: string; words?: Message | undefined };

/** Sign-in problems after which Account settings is a way on: the page links to it. */
const HELPED_BY_ACCOUNT: ReadonlySet<string> = new Set(['expiredSignIn', 'cannotContinue', 'accountSignInFailed', 'accountSignInExpired']);

/**
 * The one place errors become pages: typed errors keep their words; anything unexpected is
 * logged with its stack and answered with a plain apology — never the stack.
 */
export function errorPages(render: ViewRenderer, words: Words, logger: Logger) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (error) {
      const described = describe(error);
      if (described.status >= 500) logger.error({ err: error, path: ctx.path }, 'request failed');
      const language = (ctx.state.language as Language | undefined) ?? languageOf(ctx);
      ctx.status = described.status;
      ctx.type = 'html';
      ctx.set('Cache-Control', 'no-store');
      if (described.status === 503) ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
      ctx.body = renderErrorPage(render, words, language, described, {
        schoolName: ctx.state.schoolName as string | undefined,
        accountLink: HELPED_BY_ACCOUNT.has(described.key) ? manageAccountLink(ctx.state.accountClientId) : undefined,
        // The language link on every page, error pages included: back to the address that failed.
        here: ctx.method === 'GET' ? hereOf(ctx) : undefined,
      });
    }
  };
}

/**
 * An error page in `language`: heading, what happened (the domain's own words when it has them),
 * what to do next, the helpdesk; `technical` (an OAuth code) only in small print for IT staff,
 * `accountLink` for "Manage your account" where that helps.
 */
export function renderErrorPage(
  render: ViewRenderer,
  words: Words,
  language: Language,
  error: ErrorWords,
  extra: {
    schoolName?: string | undefined;
    technical?: string | undefined;
    here?: string | undefined;
    accountLink?: string | undefined;
  } = {},
): string {
  const heading = words.t(language, `errors.${error.key}.heading`, error.values);
  return render('error', {
    language,
    title: heading,
    heading,
    message: error.words
      ? words.t(language, error.words.key, error.words.values)
      : (error.said ?? words.t(language, `errors.${error.key}.detail`, error.values)),
    schoolName: extra.schoolName,
    technical: extra.technical,
    here: extra.here,
    accountLink: extra.accountLink,
  });
}

/** The database is down or full: nothing the person did wrong, and it should pass. */
export const UNAVAILABLE: ErrorWords = { status: 503, key: 'unavailable' };

function describe(error: unknown): ErrorWords {
  if (error instanceof PageError) return { status: error.status, key: error.key, values: error.values };
  // Only the console and account pages let domain rules reach a page; their words are the rule's own.
  if (isDomainError(error)) return { status: STATUS_OF_KIND[error.kind], key: 'notRight', said: error.message, words: error.words };
  if (isDatabaseUnavailable(error)) return UNAVAILABLE;
  const status = (error as { status?: number; expose?: boolean }).status;
  // koa and its body parser throw 4xx errors for malformed or oversized requests.
  if (typeof status === 'number' && status >= 400 && status < 500) return { status, key: 'unreadable' };
  return { status: 500, key: 'unexpected' };
}
