import type { AccountPages } from './routes.ts';

/** Security keys > backup codes. SKELETON: see /work/wt/prompts/13-backup-codes.md. */
export function backupCodeRoutes(_pages: AccountPages): void {}
