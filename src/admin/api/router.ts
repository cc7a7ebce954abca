import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';
import { isDatabaseUnavailable, RETRY_AFTER_SECONDS } from '../../db/unavailable.ts';
import { isDomainError, STATUS_OF_KIND } from '../../domain/errors.ts';
import { requireAdministrator } from '../authority.ts';
import type { AdministrationService } from '../service.ts';
import { apiClientOf } from './bearer.ts';
import { openApiDocument } from './openapi.ts';
import { invalid, ProblemError, sendProblem } from './problems.ts';
import { API_ROUTES, type ApiRoute } from './routes.ts';

export const API_PREFIX = '/api/v1';

const TITLES: Record<string, string> = {
  validation: 'The request is not valid',
  not_found: 'Not found',
  forbidden: 'Not allowed',
  conflict: 'Conflict',
  rate_limited: 'Too many requests',
};

/** The one place errors of the API become RFC 9457 problem documents; never a stack trace. */
function problems(logger: Logger) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        sendProblem(ctx, {
          status: 404,
          kind: 'not_found',
          title: 'Not found',
          detail: `There is no ${ctx.method} ${ctx.path} in this API.`,
        });
      }
    } catch (error) {
      if (error instanceof ProblemError) return sendProblem(ctx, error.problem);
      if (isDomainError(error)) {
        const errors = error.field ? [{ pointer: `/${error.field}`, detail: error.message }] : undefined;
        return sendProblem(ctx, {
          status: STATUS_OF_KIND[error.kind],
          kind: error.kind,
          title: TITLES[error.kind]!,
          detail: error.message,
          errors,
        });
      }
      if (isDatabaseUnavailable(error)) {
        ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
        return sendProblem(ctx, { status: 503, kind: 'unavailable', title: 'Unavailable', detail: 'Try again in a minute.' });
      }
      const status = (error as { status?: number }).status;
      if (typeof status === 'number' && status >= 400 && status < 500) {
        // The body parser: malformed JSON, too large, or not JSON at all.
        const detail =
          status === 413 ? 'The body is too large.' : status === 415 ? 'Send the body as application/json.' : 'The body is not valid JSON.';
        return sendProblem(ctx, { status, kind: 'unreadable', title: 'The request could not be read', detail });
      }
      logger.error({ err: error, path: ctx.path }, 'API request failed');
      sendProblem(ctx, { status: 500, kind: 'internal', title: 'Something went wrong', detail: 'Please try again in a moment.' });
    }
  };
}

const parseJson = bodyParser({ enableTypes: ['json'], jsonLimit: '16kb', encoding: 'utf-8' });

/** JSON bodies only, uncompressed; a body on a request that takes none is refused. */
async function jsonBody(ctx: Context, next: Next) {
  const hasBody = Number(ctx.get('Content-Length') || 0) > 0 || ctx.get('Transfer-Encoding') !== '';
  if (!hasBody) return next();
  if ((ctx.get('Content-Encoding') || 'identity').toLowerCase() !== 'identity' || !ctx.is('application/json')) {
    throw new ProblemError({
      status: 415,
      kind: 'unreadable',
      title: 'Unsupported body',
      detail: 'Send the body as uncompressed application/json.',
    });
  }
  return parseJson(ctx, next);
}

function handlerFor(route: ApiRoute, admin: AdministrationService, provider: Provider) {
  return async (ctx: Context) => {
    const clientId = await apiClientOf(ctx, provider);
    const authority = await admin.authorityOf({ kind: 'client', clientId }, ctx.ip);
    requireAdministrator(authority);
    const parsed = {
      params: route.params.safeParse(ctx.params ?? {}),
      query: route.query.safeParse({ ...ctx.query }),
      body: route.body.safeParse((ctx.request as { body?: unknown }).body),
    };
    if (!parsed.params.success) throw invalid('path', parsed.params.error);
    if (!parsed.query.success) throw invalid('query', parsed.query.error);
    if (!parsed.body.success) throw invalid('body', parsed.body.error);
    let answer;
    try {
      answer = await route.handle(admin, authority, { params: parsed.params.data, query: parsed.query.data, body: parsed.body.data });
    } catch (error) {
      if (route.method === 'get' && isDomainError(error) && error.kind === 'forbidden') {
        await admin.recordRefusedRead(authority, `GET ${ctx.path}`, error.message);
      }
      throw error;
    }
    ctx.status = answer.status;
    ctx.set('Cache-Control', 'no-store');
    if (answer.body !== undefined) ctx.body = answer.body;
  };
}

/** /api/v1: bearer tokens only (no cookies, so no CSRF), JSON in and out, problems for errors. */
export function apiRouter(deps: { admin: AdministrationService; provider: Provider; issuer: string; logger: Logger }) {
  const router = new Router({ prefix: API_PREFIX });
  router.use(problems(deps.logger));
  // Built on first request, not at start (about 40 ms of JSON Schema generation), then kept.
  let document: ReturnType<typeof openApiDocument> | undefined;
  router.get('/openapi.json', (ctx) => {
    document ??= openApiDocument(API_ROUTES, deps.issuer);
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = document;
  });
  for (const route of API_ROUTES) {
    router[route.method](route.path.replace(/\{(\w+)\}/g, ':$1'), jsonBody, handlerFor(route, deps.admin, deps.provider));
  }
  // Anything else under the prefix is a problem document too, never the HTML error page.
  router.all('/{*rest}', (ctx) => {
    sendProblem(ctx, { status: 404, kind: 'not_found', title: 'Not found', detail: `There is no ${ctx.method} ${ctx.path} in this API.` });
  });
  return router;
}
