import { bodyParser } from '@koa/bodyparser';

/** URL-encoded forms only, 16 kB at most: the hosted pages post nothing else. */
export const forms = bodyParser({ enableTypes: ['form'], formLimit: '16kb', encoding: 'utf-8' });
