import type { AccountPages } from './routes.ts';

/** Security keys > passkeys. SKELETON: see /work/wt/prompts/13-passkeys-account.md. */
export function passkeyRoutes(_pages: AccountPages): void {}
