import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sameSecret } from '../src/auth/constant-time.ts';
import { hashPassword, verifyPassword } from '../src/auth/passwords.ts';
import { otpauthUri } from '../src/auth/totp.ts';
import { loadSecretBox, MasterKeyMismatchError } from '../src/auth/master-key.ts';
import { hashResetToken, newResetToken, RESET_TOKEN_PATTERN } from '../src/auth/reset-tokens.ts';
import { SecretBox } from '../src/auth/secret-box.ts';
import type { SecretsRepository } from '../src/db/repositories/secrets.ts';
import { sessionSecondsLeft, sessionSecondsToSave, usedTheSession } from '../src/domain/session-lifetime.ts';

/**
 * Unit tests of the key handling, token and session-lifetime rules (no database: the secrets
 * table is a Map here). test/storage.test.ts keeps the end-to-end checks on real PostgreSQL.
 */

const KEY = Buffer.alloc(32, 7);
const OTHER_KEY = Buffer.alloc(32, 8);

class MemorySecrets {
  readonly values = new Map<string, string>();
  async get(name: string) {
    return this.values.get(name) ?? null;
  }
  async insertIfAbsent(name: string, value: string) {
    if (!this.values.has(name)) this.values.set(name, value);
  }
}
const secretsIn = (store: MemorySecrets) => store as unknown as SecretsRepository;

describe('SecretBox (AES-256-GCM, record name bound as associated data)', () => {
  test('only a 32-byte key is accepted', () => {
    expect(() => new SecretBox(Buffer.alloc(31))).toThrow('32 bytes');
    expect(() => new SecretBox(Buffer.alloc(33))).toThrow('32 bytes');
    expect(() => new SecretBox(KEY)).not.toThrow();
  });

  test('a sealed value opens under the same key and name, and is neither the plaintext nor repeated', () => {
    const box = new SecretBox(KEY);
    const sealed = box.seal('client secret é', 'client:a');
    expect(sealed).toMatch(/^v1\.[\w-]{16}\.[\w-]+\.[\w-]{22}$/);
    expect(sealed).not.toContain('client secret');
    expect(box.seal('client secret é', 'client:a')).not.toBe(sealed);
    expect(box.open(sealed, 'client:a')).toBe('client secret é');
  });

  test('it is AES-256-GCM as documented: an independent decipher opens it', () => {
    const [, nonce, body, tag] = new SecretBox(KEY).seal('plain', 'name').split('.');
    const decipher = crypto.createDecipheriv('aes-256-gcm', KEY, Buffer.from(nonce!, 'base64url'));
    decipher.setAAD(Buffer.from('name'));
    decipher.setAuthTag(Buffer.from(tag!, 'base64url'));
    expect(Buffer.concat([decipher.update(Buffer.from(body!, 'base64url')), decipher.final()]).toString()).toBe('plain');
  });

  test('another name, another key, a changed byte or an unknown format does not open', () => {
    const box = new SecretBox(KEY);
    const sealed = box.seal('secret', 'client:a');
    expect(() => box.open(sealed, 'client:b')).toThrow();
    expect(() => new SecretBox(OTHER_KEY).open(sealed, 'client:a')).toThrow();
    const [version, nonce, body, tag] = sealed.split('.');
    const flipped = Buffer.from(body!, 'base64url');
    flipped[0]! ^= 1;
    expect(() => box.open([version, nonce, flipped.toString('base64url'), tag].join('.'), 'client:a')).toThrow();
    for (const broken of [`v2.${nonce}.${body}.${tag}`, `v1..${body}.${tag}`, `v1.${nonce}..${tag}`, `v1.${nonce}.${body}`, '']) {
      expect(() => box.open(broken, 'client:a')).toThrow('Unrecognised encrypted value.');
    }
  });

  test('derived keys are HKDF-SHA256 of the master key, one per purpose', () => {
    const box = new SecretBox(KEY);
    const expected = Buffer.from(crypto.hkdfSync('sha256', KEY, Buffer.alloc(0), 'gatehouse:bearer', 32));
    expect(box.deriveKey('bearer')).toEqual(expected);
    expect(box.deriveKey('bearer')).toHaveLength(32);
    expect(box.deriveKey('other')).not.toEqual(expected);
    expect(new SecretBox(OTHER_KEY).deriveKey('bearer')).not.toEqual(expected);
    expect(box.deriveKey('bearer')).not.toEqual(KEY);
  });
});

describe('loadSecretBox (the master key and its check value)', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-key-')), 'data');
  });
  afterEach(async () => {
    await fs.rm(path.dirname(dataDir), { recursive: true, force: true });
  });

  test('without SECRETS_KEY it creates DATA_DIR/master.key once (32 random bytes, owner-only) and keeps using it', async () => {
    const store = new MemorySecrets();
    const first = await loadSecretBox(secretsIn(store), { secretsKey: undefined, dataDir });
    const file = path.join(dataDir, 'master.key');
    const stat = await fs.stat(file);
    expect(stat.mode & 0o777).toBe(0o600);
    expect((await fs.stat(dataDir)).mode & 0o777).toBe(0o700);
    const key = Buffer.from((await fs.readFile(file, 'utf8')).trim(), 'base64');
    expect(key).toHaveLength(32);
    const second = await loadSecretBox(secretsIn(store), { secretsKey: undefined, dataDir });
    expect(second.open(first.seal('x', 'n'), 'n')).toBe('x');
    expect(new SecretBox(key).open(first.seal('x', 'n'), 'n')).toBe('x');
  });

  test('the check value is written once, sealed under the key and its own name', async () => {
    const store = new MemorySecrets();
    await loadSecretBox(secretsIn(store), { secretsKey: KEY, dataDir });
    const check = store.values.get('master-key-check')!;
    expect(new SecretBox(KEY).open(check, 'master-key-check')).toBe('gatehouse');
    await loadSecretBox(secretsIn(store), { secretsKey: KEY, dataDir });
    expect(store.values.get('master-key-check')).toBe(check);
  });

  test('a different key, or a check value that says something else, stops the process with a clear message', async () => {
    const store = new MemorySecrets();
    await loadSecretBox(secretsIn(store), { secretsKey: KEY, dataDir });
    await expect(loadSecretBox(secretsIn(store), { secretsKey: OTHER_KEY, dataDir })).rejects.toThrow(MasterKeyMismatchError);
    await expect(loadSecretBox(secretsIn(store), { secretsKey: OTHER_KEY, dataDir })).rejects.toThrow('does not match');
    const forged = new MemorySecrets();
    forged.values.set('master-key-check', new SecretBox(KEY).seal('something else', 'master-key-check'));
    await expect(loadSecretBox(secretsIn(forged), { secretsKey: KEY, dataDir })).rejects.toThrow(MasterKeyMismatchError);
  });

  test('a check value that cannot be read back counts as a mismatch', async () => {
    const unreadable = { get: async () => null, insertIfAbsent: async () => undefined } as unknown as SecretsRepository;
    await expect(loadSecretBox(unreadable, { secretsKey: KEY, dataDir })).rejects.toThrow(MasterKeyMismatchError);
  });

  test('SECRETS_KEY wins over the key file, and a key file that is not 32 bytes is refused', async () => {
    await fs.mkdir(dataDir, { recursive: true });
    await fs.writeFile(path.join(dataDir, 'master.key'), Buffer.alloc(16, 1).toString('base64') + '\n');
    await expect(loadSecretBox(secretsIn(new MemorySecrets()), { secretsKey: KEY, dataDir })).resolves.toBeInstanceOf(SecretBox);
    await expect(loadSecretBox(secretsIn(new MemorySecrets()), { secretsKey: undefined, dataDir })).rejects.toThrow(
      'does not hold a 32-byte base64 key',
    );
  });

  test('an existing key file is read, not replaced', async () => {
    await fs.mkdir(dataDir, { recursive: true });
    await fs.writeFile(path.join(dataDir, 'master.key'), KEY.toString('base64') + '\n');
    const box = await loadSecretBox(secretsIn(new MemorySecrets()), { secretsKey: undefined, dataDir });
    expect(new SecretBox(KEY).open(box.seal('x', 'n'), 'n')).toBe('x');
  });

  test('a key file that cannot be written for another reason than existing is an error', async () => {
    await fs.mkdir(path.join(dataDir, 'master.key'), { recursive: true });
    await expect(loadSecretBox(secretsIn(new MemorySecrets()), { secretsKey: undefined, dataDir })).rejects.toThrow(/EISDIR|EEXIST/);
  });
});

describe('sameSecret', () => {
  test('equal strings match; any difference, including length in bytes, does not, and nothing throws', () => {
    expect(sameSecret('abc', 'abc')).toBe(true);
    expect(sameSecret('abc', 'abd')).toBe(false);
    expect(sameSecret('abc', 'abcd')).toBe(false);
    expect(sameSecret('é', 'e')).toBe(false);
    expect(sameSecret('', '')).toBe(true);
  });
});

describe('reset tokens', () => {
  test('256 random bits in base64url; only the SHA-256 hex of the token is kept', () => {
    const { token, hash } = newResetToken();
    expect(token).toMatch(RESET_TOKEN_PATTERN);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    expect(hash).toBe(crypto.createHash('sha256').update(token, 'utf8').digest('hex'));
    expect(hashResetToken(token)).toBe(hash);
    expect(newResetToken().token).not.toBe(token);
  });

  test('the link pattern accepts exactly 43 base64url characters', () => {
    expect(RESET_TOKEN_PATTERN.test('A'.repeat(43))).toBe(true);
    expect(RESET_TOKEN_PATTERN.test('-_9aZ'.padEnd(43, 'x'))).toBe(true);
    expect(RESET_TOKEN_PATTERN.test('A'.repeat(42))).toBe(false);
    expect(RESET_TOKEN_PATTERN.test('A'.repeat(44))).toBe(false);
    expect(RESET_TOKEN_PATTERN.test(`${'A'.repeat(42)}=`)).toBe(false);
    expect(RESET_TOKEN_PATTERN.test(`x${'A'.repeat(43)}`)).toBe(false);
    expect(RESET_TOKEN_PATTERN.test(`${'A'.repeat(43)}\n`)).toBe(false);
  });
});

describe('sessionSecondsLeft (inactivity timeout within the absolute lifetime)', () => {
  const limits = { idleSeconds: 1800, absoluteSeconds: 8 * 3600 };
  test('a fresh session gets the inactivity timeout', () => {
    expect(sessionSecondsLeft(1000, 1000, limits)).toBe(1800);
    expect(sessionSecondsLeft(undefined, 1000, limits)).toBe(1800);
  });
  test('near the absolute end, only what is left of the lifetime', () => {
    expect(sessionSecondsLeft(1000, 1000 + 8 * 3600 - 60, limits)).toBe(60);
  });
  test('past the lifetime, it expires at once (1 s, never 0 or less)', () => {
    expect(sessionSecondsLeft(1000, 1000 + 8 * 3600, limits)).toBe(1);
    expect(sessionSecondsLeft(1000, 1000 + 9 * 3600, limits)).toBe(1);
  });
  test('without a sign-in time the absolute lifetime bounds it', () => {
    expect(sessionSecondsLeft(undefined, 1000, { idleSeconds: 9999, absoluteSeconds: 600 })).toBe(600);
  });
});

describe('which requests move the idle deadline', () => {
  const limits = { idleSeconds: 1800, absoluteSeconds: 8 * 3600 };
  test('an authorization answered below 400 used the session; an error, or opening the sign-out form, did not', () => {
    expect(usedTheSession({ route: 'authorization', status: 303 })).toBe(true);
    expect(usedTheSession({ route: 'resume', status: 200 })).toBe(true);
    expect(usedTheSession({ route: 'authorization', status: 399 })).toBe(true);
    expect(usedTheSession({ route: 'authorization', status: 400 })).toBe(false);
    expect(usedTheSession({ route: 'authorization', status: 404 })).toBe(false);
    expect(usedTheSession({ route: 'end_session', status: 200 })).toBe(false);
    expect(usedTheSession({ route: undefined, status: 200 })).toBe(true);
  });
  test('a used session is saved with a new idle deadline; an unused one keeps the deadline it had', () => {
    const session = { loginTs: 1000, exp: 1000 + 1800 };
    expect(sessionSecondsToSave(session, { route: 'authorization', status: 303 }, 1600, limits)).toBe(1800);
    expect(sessionSecondsToSave(session, { route: 'authorization', status: 400 }, 1600, limits)).toBe(1200);
    expect(sessionSecondsToSave(session, { route: 'end_session', status: 200 }, 1600, limits)).toBe(1200);
    // Past its deadline, an unused session is saved to expire at once (never 0 or less).
    expect(sessionSecondsToSave(session, { route: 'authorization', status: 400 }, 2800, limits)).toBe(1);
    expect(sessionSecondsToSave(session, { route: 'authorization', status: 400 }, 2799, limits)).toBe(1);
    expect(sessionSecondsToSave(session, { route: 'authorization', status: 400 }, 2798, limits)).toBe(2);
    // A session not saved before (no exp yet) gets its first deadline whatever the request did.
    expect(sessionSecondsToSave({ loginTs: 1000 }, { route: 'authorization', status: 400 }, 1600, limits)).toBe(1800);
  });
});

describe('verifyPassword', () => {
  const timed = async (work: () => Promise<unknown>) => {
    const start = performance.now();
    await work();
    return performance.now() - start;
  };

  test('no hash (unknown account, no password yet) answers false after the same argon2 work as a real check', async () => {
    const hash = await hashPassword('a quiet library at half past four');
    expect(await verifyPassword(hash, 'a quiet library at half past four')).toBe(true);
    expect(await verifyPassword(hash, 'wrong')).toBe(false);
    expect(await verifyPassword('not a hash', 'wrong')).toBe(false);
    expect(await verifyPassword(null, 'anything')).toBe(false); // makes the dummy hash once
    // The fastest of three of each, so a pause of the machine under one of them cannot decide it.
    const fastest = async (work: () => Promise<unknown>) => Math.min(await timed(work), await timed(work), await timed(work));
    const real = await fastest(() => verifyPassword(hash, 'wrong'));
    const dummy = await fastest(() => verifyPassword(null, 'wrong'));
    // argon2id takes milliseconds at least; skipping it takes well under one.
    expect(dummy).toBeGreaterThan(real / 4);
  });
});

describe('the otpauth URI an app scans', () => {
  test('names Gatehouse and the account, and carries the secret with SHA1, 6 digits, 30 s', () => {
    const uri = new URL(otpauthUri('JBSWY3DPEHPK3PXP', 'staff@hill.example', 'Gatehouse'));
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe('/Gatehouse:staff@hill.example');
    expect(Object.fromEntries(uri.searchParams)).toEqual({
      secret: 'JBSWY3DPEHPK3PXP',
      issuer: 'Gatehouse',
      algorithm: 'SHA1',
      digits: '6',
      period: '30',
    });
  });
});
