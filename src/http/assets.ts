import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Router from '@koa/router';

const PUBLIC_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../public');

/** The only assets, served by name: no path traversal question. Pages work without the script. */
const ASSETS = { 'gatehouse.css': 'text/css', 'gatehouse.js': 'text/javascript' } as const;

export async function assetRoutes() {
  const router = new Router();
  for (const [name, type] of Object.entries(ASSETS)) {
    const body = await fs.readFile(path.join(PUBLIC_DIR, name));
    router.get(`/assets/${name}`, (ctx) => {
      ctx.type = type;
      ctx.set('Cache-Control', 'public, max-age=3600');
      ctx.body = body;
    });
  }
  return router;
}
