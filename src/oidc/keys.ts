import crypto from 'node:crypto';
import type { JWK } from 'oidc-provider';
import type { SecretBox } from '../auth/secret-box.ts';
import type { SecretsRepository } from '../db/repositories/secrets.ts';

export type ProviderKeys = { jwks: { keys: JWK[] }; cookieKeys: string[]; csrfKey: Buffer };

/** The signing keys as stored: the first signs; the others only verify until they are pruned. */
type StoredJwks = { keys: JWK[]; retiredAt?: Record<string, number> };

const JWKS = 'oidc.jwks';
/** A retired key stays published this long: longer than any token it signed (ID tokens: 1 h). */
export const RETIRED_KEY_LIFETIME_SECONDS = 24 * 3600;

/**
 * Signing keys and cookie keys are made once, by whichever process starts first, and stored
 * encrypted; every process then reads the same ones.
 */
export async function loadProviderKeys(secrets: SecretsRepository, box: SecretBox): Promise<ProviderKeys> {
  const [jwks, cookieKeys, csrfKey] = await Promise.all([
    loadOrCreate<StoredJwks>(secrets, box, JWKS, () => ({ keys: [newSigningKey()] })),
    loadOrCreate(secrets, box, 'oidc.cookie-keys', () => [crypto.randomBytes(32).toString('base64url')]),
    loadOrCreate(secrets, box, 'http.csrf-key', () => crypto.randomBytes(32).toString('base64url')),
  ]);
  return { jwks: { keys: jwks.keys }, cookieKeys, csrfKey: Buffer.from(csrfKey, 'base64url') };
}

export type SigningKeyInfo = { kid: string; alg: string; status: 'signing' | 'verifying'; retiredAt: string | null };

/**
 * Puts a new key first (it signs from the next start of each process) and keeps the old ones
 * published so tokens they signed still verify; keys retired over a day ago are dropped.
 */
export async function rotateSigningKey(secrets: SecretsRepository, box: SecretBox, now = Date.now()): Promise<SigningKeyInfo[]> {
  const stored = await loadOrCreate<StoredJwks>(secrets, box, JWKS, () => ({ keys: [newSigningKey()] }));
  const nowSeconds = Math.floor(now / 1000);
  const retiredAt = { ...stored.retiredAt };
  for (const key of stored.keys) retiredAt[key.kid!] ??= nowSeconds;
  const kept = stored.keys.filter((key) => nowSeconds - retiredAt[key.kid!]! < RETIRED_KEY_LIFETIME_SECONDS);
  const fresh = newSigningKey();
  const next: StoredJwks = {
    keys: [fresh, ...kept],
    retiredAt: Object.fromEntries(kept.map((key) => [key.kid!, retiredAt[key.kid!]!])),
  };
  await secrets.replace(JWKS, box.seal(JSON.stringify(next), JWKS));
  return describe(next);
}

export async function listSigningKeys(secrets: SecretsRepository, box: SecretBox): Promise<SigningKeyInfo[]> {
  return describe(await loadOrCreate<StoredJwks>(secrets, box, JWKS, () => ({ keys: [newSigningKey()] })));
}

function describe(stored: StoredJwks): SigningKeyInfo[] {
  return stored.keys.map((key, index) => ({
    kid: key.kid!,
    alg: String(key.alg),
    status: index === 0 ? 'signing' : 'verifying',
    retiredAt: stored.retiredAt?.[key.kid!] ? new Date(stored.retiredAt[key.kid!]! * 1000).toISOString() : null,
  }));
}

function newSigningKey(): JWK {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: crypto.randomBytes(12).toString('base64url'), alg: 'RS256', use: 'sig' } as JWK;
}

async function loadOrCreate<T>(secrets: SecretsRepository, box: SecretBox, name: string, create: () => T): Promise<T> {
  let sealed = await secrets.get(name);
  if (sealed === null) {
    await secrets.insertIfAbsent(name, box.seal(JSON.stringify(create()), name));
    sealed = await secrets.get(name);
  }
  if (sealed === null) throw new Error(`The secret ${name} could not be stored.`);
  return JSON.parse(box.open(sealed, name)) as T;
}
