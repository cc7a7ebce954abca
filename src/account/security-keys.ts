import type Router from '@koa/router';
import type { Context } from 'koa';
import type { RequestContext } from '../domain/audit.ts';
import type { FreshProof } from '../domain/fresh-proof.ts';
import type { pageHelpers, PageDeps } from '../interactions/pages.ts';
import type { SignedInAccount } from './session.ts';

/** Account settings' Security keys tab: every credential's pages live under it. */
export const KEYS = '/account/security-keys';

/**
 * What the Security keys routes of each kind of credential share (backup codes, passkeys): the
 * router (so the school-name middleware applies), the signed-in account, fresh proof, pages.
 * `freshProofOrConfirm` answers the proof, or null after redirecting to "confirm it's you".
 */
export type AccountPages = {
  router: Router;
  services: PageDeps['services'];
  csrf: PageDeps['csrf'];
  page: ReturnType<typeof pageHelpers>['page'];
  say: ReturnType<typeof pageHelpers>['say'];
  signedIn(ctx: Context): Promise<SignedInAccount | null>;
  freshProofOrConfirm(ctx: Context, current: SignedInAccount, returnTo: string): Promise<FreshProof | null>;
  whereOf(ctx: Context): RequestContext;
};
