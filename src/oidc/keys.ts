import crypto from 'node:crypto';
import type { JWK } from 'oidc-provider';
import type { SecretBox } from '../auth/secret-box.ts';
import type { SecretsRepository } from '../db/repositories/secrets.ts';

export type ProviderKeys = { jwks: { keys: JWK[] }; cookieKeys: string[]; csrfKey: Buffer };

/**
 * The signing keys as stored: the first signs; a `next` key is published but does not sign yet;
 * retired keys only verify until they are pruned.
 */
type StoredJwks = { keys: JWK[]; next?: string; retiredAt?: Record<string, number> };

const JWKS = 'oidc.jwks';
/** A retired key stays published this long: longer than any token it signed (ID tokens: 1 h). */
export const RETIRED_KEY_LIFETIME_SECONDS = 24 * 3600;

/**
 * Signing keys and cookie keys are made once, by whichever process starts first, and stored
 * encrypted; every process then reads the same ones.
 */
export async function loadProviderKeys(secrets: SecretsRepository, box: SecretBox): Promise<ProviderKeys> {
  const [jwks, cookieKeys, csrfKey] = await Promise.all([
    loadJwks(secrets, box),
    loadOrCreate(secrets, box, 'oidc.cookie-keys', () => [crypto.randomBytes(32).toString('base64url')]),
    loadOrCreate(secrets, box, 'http.csrf-key', () => crypto.randomBytes(32).toString('base64url')),
  ]);
  return { jwks: { keys: jwks.keys }, cookieKeys, csrfKey: Buffer.from(csrfKey, 'base64url') };
}

/** Only the published and signing keys: what a running provider reloads when they change. */
export async function loadSigningKeys(secrets: SecretsRepository, box: SecretBox): Promise<{ keys: JWK[] }> {
  return { keys: (await loadJwks(secrets, box)).keys };
}

export type SigningKeyInfo = { kid: string; alg: string; status: 'signing' | 'next' | 'retired'; retiredAt: string | null };

/**
 * Step 1 of a rotation: a new key is published (appended, not signing); every running process
 * takes it when the change is announced (live-keys.ts). Once relying parties have had time to
 * fetch it, `keys activate`: none ever meets a token signed with a key it could not find.
 */
export async function addNextSigningKey(secrets: SecretsRepository, box: SecretBox): Promise<SigningKeyInfo[]> {
  const stored = await loadJwks(secrets, box);
  const withoutOldNext = stored.keys.filter((key) => key.kid !== stored.next);
  const fresh = newSigningKey();
  return save(secrets, box, { ...stored, keys: [...withoutOldNext, fresh], next: fresh.kid });
}

/**
 * Step 2: the published `next` key signs (on every process, once announced); the previous
 * signing key is retired but stays published for a day; keys retired longer ago are dropped.
 */
export async function activateNextSigningKey(
  secrets: SecretsRepository,
  box: SecretBox,
  now = Date.now(),
): Promise<SigningKeyInfo[] | null> {
  const stored = await loadJwks(secrets, box);
  const next = stored.keys.find((key) => key.kid === stored.next);
  if (!next) return null;
  const nowSeconds = Math.floor(now / 1000);
  const retiredAt = { ...stored.retiredAt, [stored.keys[0]!.kid!]: nowSeconds };
  const others = stored.keys.filter(
    (key) => key.kid !== next.kid && nowSeconds - (retiredAt[key.kid!] ?? nowSeconds) < RETIRED_KEY_LIFETIME_SECONDS,
  );
  const keys = [next, ...others];
  return save(secrets, box, {
    keys,
    retiredAt: Object.fromEntries(others.map((key) => [key.kid!, retiredAt[key.kid!]!])),
  });
}

export async function listSigningKeys(secrets: SecretsRepository, box: SecretBox): Promise<SigningKeyInfo[]> {
  return describe(await loadJwks(secrets, box));
}

async function save(secrets: SecretsRepository, box: SecretBox, stored: StoredJwks): Promise<SigningKeyInfo[]> {
  await secrets.replace(JWKS, box.seal(JSON.stringify(stored), JWKS));
  return describe(stored);
}

function loadJwks(secrets: SecretsRepository, box: SecretBox): Promise<StoredJwks> {
  return loadOrCreate<StoredJwks>(secrets, box, JWKS, () => ({ keys: [newSigningKey()] }));
}

function describe(stored: StoredJwks): SigningKeyInfo[] {
  return stored.keys.map((key, index) => ({
    kid: key.kid!,
    alg: String(key.alg),
    status: index === 0 ? 'signing' : key.kid === stored.next ? 'next' : 'retired',
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
