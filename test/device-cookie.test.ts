import crypto from 'node:crypto';
import Koa from 'koa';
import request from 'supertest';
import { createDeviceCookies, trustedDevicesOf } from '../src/http/device-cookie.ts';

/** The device cookie on its own: what it sets, and which cookies it believes. */
const ALICE = '7c1f0e2a-0000-4000-8000-000000000001';
const BOB = '7c1f0e2a-0000-4000-8000-000000000002';
let now = Date.parse('2026-01-05T09:00:00Z');

function app(key = Buffer.alloc(32, 7), options: { secure?: boolean } = {}) {
  const devices = createDeviceCookies(key, () => now, options);
  const koa = new Koa();
  koa.use(devices.middleware);
  koa.use(async (ctx) => {
    if (ctx.path.startsWith('/trust/')) devices.trust(ctx, ctx.path.slice('/trust/'.length));
    ctx.body = trustedDevicesOf(ctx);
  });
  return koa.callback();
}

const cookieOf = (response: request.Response, name = 'gatehouse.device') => {
  const header = ([] as string[]).concat(response.headers['set-cookie'] ?? []).find((c) => c.startsWith(`${name}=`));
  if (!header) throw new Error('no device cookie set');
  return { header, pair: header.split(';')[0]! };
};

test('issued HttpOnly and SameSite=Strict, long-lived, and believed on the next request', async () => {
  const { header, pair } = cookieOf(await request(app()).get(`/trust/${ALICE}`));
  expect(header).toMatch(/; httponly/i);
  expect(header).toMatch(/; samesite=strict/i);
  expect(header).toMatch(/; path=\//i);
  expect(header).toMatch(/; expires=/i); // persistent: it outlives the browser session
  const seen = await request(app()).get('/').set('cookie', pair);
  expect(seen.body).toEqual([{ id: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/), accountId: ALICE, issuedAt: now / 1000 }]);
  // Plain http (a development ISSUER): no prefix, and not Secure on an http request.
  expect(header).not.toMatch(/; secure/i);
});

test('under an https ISSUER the cookie is __Host- prefixed: Secure, path=/, no Domain; the plain name is not believed', async () => {
  const https = app(undefined, { secure: true });
  // Even when a proxy forwards plain http without TRUST_PROXY: the browser itself spoke https.
  const response = await request(https).get(`/trust/${ALICE}`);
  const names = ([] as string[]).concat(response.headers['set-cookie'] ?? []).map((c) => c.split('=')[0]);
  expect(names).toEqual(['__Host-gatehouse.device']);
  const { header, pair } = cookieOf(response, '__Host-gatehouse.device');
  expect(header).toMatch(/; secure/i);
  expect(header).toMatch(/; path=\/(;|$)/i);
  expect(header).not.toMatch(/; domain=/i);
  expect(header).toMatch(/; httponly/i);
  expect((await request(https).get('/').set('cookie', pair)).body).toEqual([expect.objectContaining({ accountId: ALICE })]);
  const plain = pair.replace('__Host-gatehouse.device', 'gatehouse.device');
  expect((await request(https).get('/').set('cookie', plain)).body).toEqual([]);
});

test('the issue time is the sign-in time given, and is read back from the expiry', async () => {
  const issuedAt = now / 1000 + 1;
  const devices = createDeviceCookies(Buffer.alloc(32, 7), () => now);
  const koa = new Koa();
  koa.use(devices.middleware);
  koa.use(async (ctx) => {
    if (ctx.path === '/trust') devices.trust(ctx, ALICE, issuedAt);
    ctx.body = trustedDevicesOf(ctx);
  });
  const { pair } = cookieOf(await request(koa.callback()).get('/trust'));
  expect((await request(koa.callback()).get('/').set('cookie', pair)).body).toEqual([expect.objectContaining({ issuedAt })]);
});

test('a second account joins the cookie; signing in again keeps the device id', async () => {
  const first = cookieOf(await request(app()).get(`/trust/${ALICE}`)).pair;
  const both = cookieOf(await request(app()).get(`/trust/${BOB}`).set('cookie', first)).pair;
  const again = cookieOf(await request(app()).get(`/trust/${ALICE}`).set('cookie', both)).pair;
  const before = (await request(app()).get('/').set('cookie', both)).body as Array<{ id: string; accountId: string }>;
  const after = (await request(app()).get('/').set('cookie', again)).body as Array<{ id: string; accountId: string }>;
  expect(before.map((d) => d.accountId)).toEqual([ALICE, BOB]);
  expect(after.find((d) => d.accountId === ALICE)!.id).toBe(before.find((d) => d.accountId === ALICE)!.id);
});

test('a changed, foreign or expired cookie is not believed', async () => {
  const pair = cookieOf(await request(app()).get(`/trust/${ALICE}`)).pair;
  const forged = pair.replace(ALICE, BOB);
  expect((await request(app()).get('/').set('cookie', forged)).body).toEqual([]);
  expect(
    (
      await request(app(Buffer.alloc(32, 8)))
        .get('/')
        .set('cookie', pair)
    ).body,
  ).toEqual([]);
  expect((await request(app()).get('/').set('cookie', 'gatehouse.device=garbage~more.garbage')).body).toEqual([]);
  now += 180 * 24 * 3600 * 1000;
  expect((await request(app()).get('/').set('cookie', pair)).body).toEqual([]);
});

test('at most five accounts per browser: the oldest goes first, and only five entries are read', async () => {
  const accounts = [1, 2, 3, 4, 5, 6].map((n) => `7c1f0e2a-0000-4000-8000-00000000000${n}`);
  let pair = '';
  for (const account of accounts) pair = cookieOf(await request(app()).get(`/trust/${account}`).set('cookie', pair)).pair;
  const seen = (await request(app()).get('/').set('cookie', pair)).body as Array<{ accountId: string }>;
  expect(seen.map((d) => d.accountId)).toEqual(accounts.slice(1));
  // Signing in again as one of them moves it to the end, without dropping another.
  const again = cookieOf(await request(app()).get(`/trust/${accounts[2]}`).set('cookie', pair)).pair;
  const after = (await request(app()).get('/').set('cookie', again)).body as Array<{ accountId: string }>;
  expect(after.map((d) => d.accountId)).toEqual([accounts[1], accounts[3], accounts[4], accounts[5], accounts[2]]);
  // A hand-made cookie with more entries is read only up to five.
  const entries = pair.slice('gatehouse.device='.length).split('~');
  const padded = `gatehouse.device=${['garbage', ...entries].join('~')}`;
  expect(((await request(app()).get('/').set('cookie', padded)).body as unknown[]).length).toBe(4);
});

test('the cookie lives 180 days, and its entries are signed with a key derived for this purpose alone', async () => {
  const { header, pair } = cookieOf(await request(app()).get(`/trust/${ALICE}`));
  const expires = Date.parse(/expires=([^;]+)/i.exec(header)![1]!);
  expect(Math.abs(expires - (Date.now() + 180 * 24 * 3600 * 1000))).toBeLessThan(60_000);
  const [id, accountId, until, signature] = pair.slice('gatehouse.device='.length).split('.');
  const key = Buffer.from(crypto.hkdfSync('sha256', Buffer.alloc(32, 7), Buffer.alloc(0), 'gatehouse device cookie', 32));
  expect(signature).toBe(crypto.createHmac('sha256', key).update(`${id}.${accountId}.${until}`).digest('base64url'));
  expect(Number(until)).toBe(Math.floor(now / 1000) + 180 * 24 * 3600);
});

test('a second trust in one response replaces the first cookie instead of adding another', async () => {
  const devices = createDeviceCookies(Buffer.alloc(32, 7), () => now);
  const koa = new Koa();
  koa.use(devices.middleware);
  koa.use(async (ctx) => {
    devices.trust(ctx, ALICE);
    devices.trust(ctx, ALICE);
    ctx.body = 'ok';
  });
  const response = await request(koa.callback()).get('/');
  expect(([] as string[]).concat(response.headers['set-cookie'] ?? []).filter((c) => c.startsWith('gatehouse.device='))).toHaveLength(1);
});
