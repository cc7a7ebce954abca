import crypto from 'node:crypto';
import type { JWK } from 'oidc-provider';
import type { SecretBox } from '../auth/secret-box.ts';
import type { SecretsRepository } from '../db/repositories/secrets.ts';

export type ProviderKeys = { jwks: { keys: JWK[] }; cookieKeys: string[]; csrfKey: Buffer };

/**
 * Signing keys and cookie keys are made once, by whichever process starts first, and stored
 * encrypted; every process then reads the same ones.
 */
export async function loadProviderKeys(secrets: SecretsRepository, box: SecretBox): Promise<ProviderKeys> {
  const [jwks, cookieKeys, csrfKey] = await Promise.all([
    loadOrCreate(secrets, box, 'oidc.jwks', () => ({ keys: [newSigningKey()] })),
    loadOrCreate(secrets, box, 'oidc.cookie-keys', () => [crypto.randomBytes(32).toString('base64url')]),
    loadOrCreate(secrets, box, 'http.csrf-key', () => crypto.randomBytes(32).toString('base64url')),
  ]);
  return { jwks, cookieKeys, csrfKey: Buffer.from(csrfKey, 'base64url') };
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
