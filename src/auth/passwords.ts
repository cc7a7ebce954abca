import argon2 from 'argon2';

/**
 * argon2id with 64 MiB, 3 passes, parallelism 1 — above OWASP's minimum (19 MiB, t=2, p=1).
 * argon2 stores the parameters in the PHC string, so raising them later still verifies old hashes.
 */
const HASH_OPTIONS = { type: argon2.argon2id, memoryCost: 65_536, timeCost: 3, parallelism: 1 } as const;

let dummyHash: Promise<string> | undefined;

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, HASH_OPTIONS);
}

/**
 * Verifies in constant time (argon2 compares digests with a timing-safe comparison). With no hash
 * (unknown account, or no password yet) it still spends the same work on a dummy hash, so the
 * response time does not tell whether an account exists.
 */
export async function verifyPassword(hash: string | null, password: string): Promise<boolean> {
  if (hash === null) {
    dummyHash ??= hashPassword('gatehouse-dummy-password');
    await argon2.verify(await dummyHash, password).catch(() => false);
    return false;
  }
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}
