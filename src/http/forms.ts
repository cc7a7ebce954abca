import { bodyParser } from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import { PageError } from './page-error.ts';

/** URL-encoded forms only, 16 kB at most: the hosted pages post nothing else. */
const parseForm = bodyParser({ enableTypes: ['form'], formLimit: '16kb', encoding: 'utf-8' });

/**
 * Browsers never compress a form they post, so a compressed body is not one of our forms: refuse
 * it before any decompression (a malformed gzip, br or deflate body made the parser throw a 500).
 */
export async function forms(ctx: Context, next: Next) {
  const encoding = (ctx.get('Content-Encoding') || 'identity').trim().toLowerCase();
  if (encoding !== 'identity') {
    throw new PageError(415, 'compressedForm');
  }
  await parseForm(ctx, next);
}
