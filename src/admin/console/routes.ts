import Router from '@koa/router';
import type { PageDeps } from '../../interactions/pages.ts';
import { auditPages } from './audit-pages.ts';
import { clientPages } from './client-pages.ts';
import { isDomainError } from '../../domain/errors.ts';
import { type Administrator, consoleHelpers } from './console.ts';
import { importPages } from './import-pages.ts';
import { peoplePages } from './people-pages.ts';
import { rolesPages } from './roles-pages.ts';
import { staffPages } from './staff-pages.ts';

/** The administration console at /admin: server-rendered pages over the administration service. */
export function consoleRoutes(deps: PageDeps) {
  const router = new Router();
  const helpers = consoleHelpers(deps);
  // A look the administrator's role refused is recorded, as the API does (acts record their own).
  router.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      const administrator = ctx.state.administrator as Administrator | undefined;
      if (ctx.method === 'GET' && administrator && isDomainError(error) && error.kind === 'forbidden') {
        await deps.services.admin.recordRefusedRead(administrator.authority, `GET ${ctx.path}`, error.message);
      }
      throw error;
    }
  });
  for (const pages of [staffPages, peoplePages, auditPages, rolesPages, clientPages, importPages]) pages(router, deps, helpers);
  return router;
}
