import crypto from 'node:crypto';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { SecretBox } from '../src/auth/secret-box.ts';
import { BearerStorage, hasBearerId } from '../src/oidc/bearer-storage.ts';
import { answersInJson, clientAuthenticationErrors } from '../src/oidc/client-authentication.ts';

/**
 * Unit tests of how bearer values are stored (a keyed hash, never the value) and of the
 * invalid_client answer. test/storage.test.ts, test/token-storage.test.ts and
 * test/client-authentication.test.ts keep the checks against PostgreSQL and a spawned server.
 */

const KEY = Buffer.alloc(32, 5);
const box = new SecretBox(KEY);
const keyed = (value: string) => crypto.createHmac('sha256', box.deriveKey('oidc-bearer-ids')).update(value).digest('base64url');

describe('BearerStorage', () => {
  const storage = new BearerStorage(box);

  test('every model but Client and Grant is stored under an HMAC of its id, keyed by a derived key', () => {
    expect(hasBearerId('AccessToken')).toBe(true);
    expect(hasBearerId('RefreshToken')).toBe(true);
    expect(hasBearerId('RegistrationAccessToken')).toBe(true);
    expect(hasBearerId('Client')).toBe(false);
    expect(hasBearerId('Grant')).toBe(false);
    expect(storage.id('AccessToken', 'tok-1')).toBe(keyed('id:tok-1'));
    expect(storage.id('Client', 'client-1')).toBe('client-1');
    expect(storage.userCode('ABCD-EFGH')).toBe(keyed('user_code:ABCD-EFGH'));
    expect(new BearerStorage(new SecretBox(Buffer.alloc(32, 6))).id('AccessToken', 'tok-1')).not.toBe(storage.id('AccessToken', 'tok-1'));
  });

  test('the stored payload holds neither the id (jti) nor the user code; reading back restores the id', () => {
    const stored = storage.toStored('AccessToken', 'tok-1', { jti: 'tok-1', accountId: 'acc-1', userCode: 'ABCD' });
    expect(stored).toEqual({ id: keyed('id:tok-1'), payload: { accountId: 'acc-1' }, userCode: keyed('user_code:ABCD') });
    expect(JSON.stringify(stored)).not.toContain('tok-1');
    expect(storage.fromStored('AccessToken', 'tok-1', stored.payload)).toEqual({ accountId: 'acc-1', jti: 'tok-1' });
    expect(storage.toStored('AccessToken', 'tok-2', { jti: 'tok-2' }).userCode).toBeUndefined();
  });

  test('clients and grants are stored as they are', () => {
    const payload = { client_id: 'c', client_secret: 's' };
    expect(storage.toStored('Client', 'c', payload)).toEqual({ id: 'c', payload, userCode: undefined });
    expect(storage.fromStored('Client', 'c', payload)).toBe(payload);
    const grant = { jti: 'grant-1', accountId: 'acc-1' };
    expect(storage.toStored('Grant', 'grant-1', grant)).toEqual({ id: 'grant-1', payload: grant, userCode: undefined });
  });

  test('an interaction keeps no session cookie, and its return URL and PAR/device references are sealed to it', () => {
    const stored = storage.toStored('Interaction', 'int-1', {
      jti: 'int-1',
      returnTo: 'https://sso.example/auth/int-1',
      parJti: 'par-1',
      deviceCode: 'dev-1',
      session: { cookie: 'session-cookie', uid: 'u1' },
      kind: 'Interaction',
    });
    expect(stored.payload.session).toEqual({ uid: 'u1' });
    expect(JSON.stringify(stored.payload)).not.toMatch(/int-1|par-1|dev-1|session-cookie/);
    expect(box.open(String(stored.payload.returnTo), `Interaction.returnTo:${stored.id}`)).toBe('https://sso.example/auth/int-1');
    expect(() => box.open(String(stored.payload.parJti), `Interaction.parJti:other`)).toThrow();
    expect(storage.fromStored('Interaction', 'int-1', stored.payload)).toEqual({
      returnTo: 'https://sso.example/auth/int-1',
      parJti: 'par-1',
      deviceCode: 'dev-1',
      session: { uid: 'u1' },
      kind: 'Interaction',
      jti: 'int-1',
    });
    const plain = storage.toStored('Interaction', 'int-2', { jti: 'int-2', session: { uid: 'u2' } });
    expect(plain.payload).toEqual({ session: { uid: 'u2' } });
    expect(storage.fromStored('Interaction', 'int-2', plain.payload)).toEqual({ session: { uid: 'u2' }, jti: 'int-2' });
    for (const session of [undefined, null, 'text']) {
      const odd = storage.toStored('Interaction', 'int-3', { jti: 'int-3', session });
      expect(odd.payload).toEqual({ session });
    }
  });
});

describe('invalid_client (RFC 6749 §5.2)', () => {
  const run = async (route: string | undefined, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const set: Record<string, string> = { ...headers };
    const ctx = {
      oidc: route === undefined ? undefined : { route },
      status,
      body,
      response: { get: (name: string) => set[name] ?? '' },
      set: (name: string, value: string) => void (set[name] = value),
    } as unknown as KoaContextWithOIDC;
    await clientAuthenticationErrors('https://sso.example/"q\\')(ctx, async () => {});
    return { status: ctx.status, body: ctx.body, headers: set };
  };
  const missing = { error: 'invalid_request', error_description: 'no client authentication mechanism provided' };
  const challenge = 'Basic realm="https://sso.example/\\"q\\\\", error="invalid_client"';

  test('no client authentication at the machine endpoints is 401 invalid_client with a Basic challenge', async () => {
    for (const route of ['token', 'introspection', 'revocation', 'pushed_authorization_request']) {
      expect(await run(route, 400, missing)).toEqual({
        status: 401,
        body: { error: 'invalid_client', error_description: 'client authentication failed' },
        headers: { 'WWW-Authenticate': challenge },
      });
    }
  });

  test('a failed client authentication gets the challenge; one already named is kept', async () => {
    expect((await run('token', 401, { error: 'invalid_client' })).headers).toEqual({ 'WWW-Authenticate': challenge });
    expect((await run('token', 401, { error: 'invalid_client' }, { 'WWW-Authenticate': 'Basic realm="x"' })).headers).toEqual({
      'WWW-Authenticate': 'Basic realm="x"',
    });
  });

  test('other errors, other routes and non-error bodies are left alone', async () => {
    const other = { error: 'invalid_request', error_description: 'something else' };
    expect(await run('token', 400, other)).toEqual({ status: 400, body: other, headers: {} });
    expect(await run('authorization', 400, missing)).toEqual({ status: 400, body: missing, headers: {} });
    expect(await run(undefined, 400, missing)).toEqual({ status: 400, body: missing, headers: {} });
    expect(await run('token', 200, { access_token: 'x' })).toEqual({ status: 200, body: { access_token: 'x' }, headers: {} });
    expect(await run('token', 401, 'text')).toEqual({ status: 401, body: 'text', headers: {} });
    expect(await run('token', 400, { error: 'invalid_client' })).toEqual({ status: 400, body: { error: 'invalid_client' }, headers: {} });
    expect(await run('token', 401, { error: 'invalid_grant' })).toEqual({ status: 401, body: { error: 'invalid_grant' }, headers: {} });
    expect(await run('token', 401, null)).toEqual({ status: 401, body: null, headers: {} });
    expect(await run('token', 401, { error: 5 })).toEqual({ status: 401, body: { error: 5 }, headers: {} });
    const grant = { error: 'invalid_grant', error_description: 'no client authentication mechanism provided' };
    expect(await run('token', 400, grant)).toEqual({ status: 400, body: grant, headers: {} });
  });

  test('the machine endpoints answer errors in JSON; the browser ones do not', () => {
    const at = (route: string | undefined) => ({ oidc: route ? { route } : undefined }) as unknown as KoaContextWithOIDC;
    expect(answersInJson(at('token'))).toBe(true);
    expect(answersInJson(at('revocation'))).toBe(true);
    expect(answersInJson(at('authorization'))).toBe(false);
    expect(answersInJson(at(undefined))).toBe(false);
  });
});
