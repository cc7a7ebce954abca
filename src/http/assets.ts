import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Router from '@koa/router';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PUBLIC_DIR = path.join(ROOT, 'public');

/**
 * The only assets, served by name: no path traversal question. Pages work without the scripts,
 * apart from passkeys, which need one (WebAuthn is a browser API). The WebAuthn helpers are
 * @simplewebauthn/browser's own bundle (global `SimpleWebAuthnBrowser`), served from our origin
 * so the CSP stays `script-src 'self'`.
 */
const ASSETS: Record<string, { type: string; file: string }> = {
  'gatehouse.css': { type: 'text/css', file: path.join(PUBLIC_DIR, 'gatehouse.css') },
  'gatehouse.js': { type: 'text/javascript', file: path.join(PUBLIC_DIR, 'gatehouse.js') },
  'passkey-account.js': { type: 'text/javascript', file: path.join(PUBLIC_DIR, 'passkey-account.js') },
  'relay.js': { type: 'text/javascript', file: path.join(PUBLIC_DIR, 'relay.js') },
  'passkey-sign-in.js': { type: 'text/javascript', file: path.join(PUBLIC_DIR, 'passkey-sign-in.js') },
  'webauthn.js': { type: 'text/javascript', file: path.join(ROOT, 'node_modules/@simplewebauthn/browser/dist/bundle/index.umd.min.js') },
};

export async function assetRoutes() {
  const router = new Router();
  for (const [name, { type, file }] of Object.entries(ASSETS)) {
    const body = await fs.readFile(file);
    router.get(`/assets/${name}`, (ctx) => {
      ctx.type = type;
      ctx.set('Cache-Control', 'public, max-age=3600');
      ctx.body = body;
    });
  }
  return router;
}
