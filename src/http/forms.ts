import { bodyParser } from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import { PageError } from './page-error.ts';

/**
 * URL-encoded forms only, `limit` at most. Browsers never compress a form they post, so a
 * compressed body is not a form: refuse it before any decompression (a malformed gzip, br or
 * deflate body made the parser throw a 500).
 */
export function formsUpTo(limit: string) {
  const parseForm = bodyParser({ enableTypes: ['form'], formLimit: limit, encoding: 'utf-8' });
  return async (ctx: Context, next: Next) => {
    const encoding = (ctx.get('Content-Encoding') || 'identity').trim().toLowerCase();
    if (encoding !== 'identity') {
      throw new PageError(415, 'compressedForm');
    }
    await parseForm(ctx, next);
  };
}

/** The hosted pages post nothing bigger than 16 kB. */
export const forms = formsUpTo('16kb');
