import request from 'supertest';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';

let storage: TestStorage;
let gatehouse: TestGatehouse;

beforeAll(async () => {
  storage = await createTestStorage();
  gatehouse = await startTestGatehouse(storage);
});

afterAll(async () => {
  await gatehouse?.close();
  await storage?.drop();
});

test('/healthz and /readyz answer 200 with JSON when healthy', async () => {
  await request(gatehouse.url).get('/healthz').expect(200, { status: 'ok' });
  await request(gatehouse.url).get('/readyz').expect(200, { status: 'ok', database: 'ok' });
});

test('pages carry the security headers', async () => {
  const response = await request(gatehouse.url).get('/password/forgot').expect(200);
  expect(response.headers['content-security-policy']).toContain("script-src 'self'");
  expect(response.headers['content-security-policy']).toContain("frame-ancestors 'none'");
  expect(response.headers['referrer-policy']).toBe('no-referrer');
  expect(response.headers['x-content-type-options']).toBe('nosniff');
  expect(response.headers['cache-control']).toBe('no-store');
  expect(response.headers['strict-transport-security']).toBeUndefined(); // http issuer: no HSTS
  const cookie = response.headers['set-cookie']?.[0] ?? '';
  expect(cookie).toMatch(/httponly/i);
  expect(cookie).toMatch(/samesite=lax/i);
});

test('unknown pages and bad methods get words, not stack traces', async () => {
  const missing = await request(gatehouse.url).get('/interaction/../../etc/passwd').expect(404);
  expect(missing.text).not.toMatch(/\bat \S+ \(/);
  const notFound = await request(gatehouse.url).get('/password/nowhere').expect(404);
  expect(notFound.text).toBe('Not Found');
  const wrongType = await request(gatehouse.url)
    .post('/password/forgot')
    .set('content-type', 'application/json')
    .send('{"email": ["a", "b"]}');
  expect(wrongType.status).toBeGreaterThanOrEqual(400);
  expect(wrongType.status).toBeLessThan(500);
  const hugeForm = await request(gatehouse.url)
    .post('/password/forgot')
    .type('form')
    .send(`email=${'a'.repeat(100_000)}`);
  expect(hugeForm.status).toBe(413);
  expect(hugeForm.text).toContain('We could not read that request');
});

test('the reset page for a bad token reflects nothing the visitor sent', async () => {
  const response = await request(gatehouse.url).get('/password/reset?token=%3Cimg%20src=x%20onerror=alert(1)%3E').expect(400);
  expect(response.text).not.toContain('<img');
  expect(response.text).toContain('This link is not valid.');
});
