import crypto from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Logger } from 'pino';

/**
 * One line per request. Only the path is logged: query strings carry codes, tokens and reset
 * links, and bodies carry passwords.
 */
export function requestLog(logger: Logger) {
  return async (ctx: Context, next: Next) => {
    const started = process.hrtime.bigint();
    const requestId = crypto.randomUUID();
    // As the request came: a POST at /auth or /session/end is handed on as a GET (src/oidc/front-channel-post.ts).
    const { method, path } = ctx;
    ctx.set('X-Request-Id', requestId);
    try {
      await next();
    } finally {
      const durationMs = Number((process.hrtime.bigint() - started) / 1000n) / 1000;
      // 503 is a state the process announces (database away, shutting down), not a defect.
      const level = ctx.status === 503 ? 'warn' : ctx.status >= 500 ? 'error' : 'info';
      logger[level]({ requestId, method, path, status: ctx.status, durationMs }, 'request');
    }
  };
}
