import argon2 from 'argon2';
import { DEFAULT_PASSWORD_HASH, type PasswordHashCost } from '../config/password-hash.ts';

/**
 * argon2id at the configured cost (PASSWORD_HASH; default OWASP's 19 MiB, t=2, p=1). The PHC
 * string carries its own parameters, so a hash made at another cost still verifies, and
 * `needsRehash` tells the sign-in to store a fresh one.
 */
const optionsFor = (cost: PasswordHashCost) =>
  ({ type: argon2.argon2id, memoryCost: cost.memoryKiB, timeCost: cost.passes, parallelism: cost.parallelism }) as const;

/** One dummy hash per cost: an unknown account spends what a known one at this cost would. */
const dummyHashes = new Map<string, Promise<string>>();

export function hashPassword(password: string, cost: PasswordHashCost = DEFAULT_PASSWORD_HASH): Promise<string> {
  return argon2.hash(password, optionsFor(cost));
}

/**
 * Verifies in constant time (argon2 compares digests with a timing-safe comparison). With no hash
 * (unknown account, or no password yet) it still spends the same work on a dummy hash, so the
 * response time does not tell whether an account exists.
 */
export async function verifyPassword(
  hash: string | null,
  password: string,
  cost: PasswordHashCost = DEFAULT_PASSWORD_HASH,
): Promise<boolean> {
  if (hash === null) {
    const key = JSON.stringify(cost);
    let dummy = dummyHashes.get(key);
    if (!dummy) {
      dummy = hashPassword('gatehouse-dummy-password', cost);
      dummyHashes.set(key, dummy);
    }
    await argon2.verify(await dummy, password).catch(() => false);
    return false;
  }
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}

/** A stored hash of another algorithm or cost than the configured one: replace it at the next sign-in. */
export function needsRehash(hash: string, cost: PasswordHashCost = DEFAULT_PASSWORD_HASH): boolean {
  if (!hash.startsWith('$argon2id$')) return true;
  try {
    return argon2.needsRehash(hash, optionsFor(cost));
  } catch {
    return true;
  }
}
