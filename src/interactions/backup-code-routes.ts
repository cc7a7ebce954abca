import Router from '@koa/router';
import type { PageDeps } from './pages.ts';

/** "Use a backup code" in the second step of a sign-in. SKELETON: see /work/wt/prompts/13-backup-codes.md. */
export function backupCodeSignInRoutes(_deps: PageDeps) {
  return new Router();
}
