import Router from '@koa/router';
import type { PageDeps } from './pages.ts';

/** "Sign in with a passkey", and a passkey as the second step. SKELETON: see /work/wt/prompts/13-passkeys-sign-in.md. */
export function passkeySignInRoutes(_deps: PageDeps) {
  return new Router();
}
