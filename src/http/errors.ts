import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import { isDatabaseUnavailable, RETRY_AFTER_SECONDS } from '../db/unavailable.ts';
import { isDomainError, STATUS_OF_KIND } from '../domain/errors.ts';
import { PageError } from './page-error.ts';
import type { ViewRenderer } from './views.ts';

/**
 * The one place errors become responses: typed errors keep their words; anything unexpected is
 * logged with its stack and answered with a plain apology — never the stack.
 */
export function errorPages(render: ViewRenderer, logger: Logger) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (error) {
      const { status, heading, detail } = describe(error);
      if (status >= 500) logger.error({ err: error, path: ctx.path }, 'request failed');
      ctx.status = status;
      ctx.type = 'html';
      ctx.set('Cache-Control', 'no-store');
      if (status === 503) ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
      ctx.body = render('error', { title: heading, heading, message: detail });
    }
  };
}

/** The database is down or full: nothing the person did wrong, and it should pass. */
export const UNAVAILABLE = {
  status: 503,
  heading: 'Gatehouse is unavailable for a moment',
  detail: 'Sign-in cannot be completed just now. Please try again in a minute.',
};

function describe(error: unknown): { status: number; heading: string; detail: string } {
  if (error instanceof PageError) return error;
  if (isDomainError(error)) {
    return { status: STATUS_OF_KIND[error.kind], heading: 'Something is not right', detail: error.message };
  }
  if (isDatabaseUnavailable(error)) return UNAVAILABLE;
  const status = (error as { status?: number; expose?: boolean }).status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // koa and its body parser throw 4xx errors for malformed or oversized requests.
    return { status, heading: 'We could not read that request', detail: 'Go back, reload the page and try again.' };
  }
  return { status: 500, heading: 'Sorry, something went wrong', detail: 'Please try again in a moment.' };
}
