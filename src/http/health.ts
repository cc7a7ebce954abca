import Router from '@koa/router';
import { DiskNotWritableError } from '../db/write-probe.ts';

/**
 * /healthz: the process answers. /readyz: the database answers too and, when embedded, its disk
 * takes a write (503 until both do); 503 as soon as the process is shutting down.
 */
export function healthRoutes(ping: () => Promise<void>, stopping: () => boolean) {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    if (stopping()) {
      ctx.status = 503;
      ctx.body = { status: 'stopping' };
      return;
    }
    try {
      await ping();
      ctx.body = { status: 'ok', database: 'ok' };
    } catch (error) {
      ctx.status = 503;
      ctx.body = { status: 'unavailable', database: error instanceof DiskNotWritableError ? 'not_writable' : 'unreachable' };
    }
  });
  return router;
}
