import Router from '@koa/router';
import type { PageDeps } from '../../interactions/pages.ts';
import { auditPages } from './audit-pages.ts';
import { consoleHelpers } from './console.ts';
import { peoplePages } from './people-pages.ts';
import { rolesPages } from './roles-pages.ts';
import { staffPages } from './staff-pages.ts';

/** The administration console at /admin: server-rendered pages over the administration service. */
export function consoleRoutes(deps: PageDeps) {
  const router = new Router();
  const helpers = consoleHelpers(deps);
  for (const pages of [staffPages, peoplePages, auditPages, rolesPages]) pages(router, deps, helpers);
  return router;
}
