import Router from '@koa/router';
import { isDomainError } from '../../domain/errors.ts';
import type { PageDeps } from '../../interactions/pages.ts';
import { auditPages } from './audit-pages.ts';
import { clientPages } from './client-pages.ts';
import { type Administrator, consoleHelpers } from './console.ts';
import { importPages } from './import-pages.ts';
import { peoplePages } from './people-pages.ts';
import { rolesPages } from './roles-pages.ts';
import { staffPages } from './staff-pages.ts';

/** The administration console at /admin: server-rendered pages over the administration service. */
export function consoleRoutes(deps: PageDeps) {
  const router = new Router();
  const helpers = consoleHelpers(deps);
  router.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      if (!isDomainError(error)) throw error;
      // A look the administrator's role refused is recorded, as the API does (acts record their own).
      const administrator = ctx.state.administrator as Administrator | undefined;
      if (ctx.method === 'GET' && administrator && error.kind === 'forbidden') {
        await deps.services.admin.recordRefusedRead(administrator.authority, `GET ${ctx.path}`, error.message);
      }
      // The error pages (src/http/errors.ts) say it, in the reader's language when it has words.
      throw error;
    }
  });
  for (const pages of [staffPages, peoplePages, auditPages, rolesPages, clientPages, importPages]) pages(router, deps, helpers);
  return router;
}
