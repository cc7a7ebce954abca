import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { SecretsRepository } from '../db/repositories/secrets.ts';
import { SecretBox } from './secret-box.ts';

const CHECK_NAME = 'master-key-check';
const CHECK_PLAINTEXT = 'gatehouse';

export class MasterKeyMismatchError extends Error {}

/**
 * The key that encrypts every stored secret: SECRETS_KEY when given, otherwise DATA_DIR/master.key,
 * created once. A check value in the database proves that the key is the one the data was written
 * with; a different key stops the process instead of silently minting new secrets.
 */
export async function loadSecretBox(
  secrets: SecretsRepository,
  options: { secretsKey: Buffer | undefined; dataDir: string },
): Promise<SecretBox> {
  const key = options.secretsKey ?? (await readOrCreateKeyFile(options.dataDir));
  const box = new SecretBox(key);
  await secrets.insertIfAbsent(CHECK_NAME, box.seal(CHECK_PLAINTEXT, CHECK_NAME));
  const stored = await secrets.get(CHECK_NAME);
  try {
    if (stored === null || box.open(stored, CHECK_NAME) !== CHECK_PLAINTEXT) throw new Error('check failed');
  } catch {
    throw new MasterKeyMismatchError(
      'Configuration error: the secrets key does not match the one this database was created with (set SECRETS_KEY or restore DATA_DIR/master.key).',
    );
  }
  return box;
}

async function readOrCreateKeyFile(dataDir: string): Promise<Buffer> {
  const file = path.join(dataDir, 'master.key');
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  try {
    await fs.writeFile(file, crypto.randomBytes(32).toString('base64') + '\n', { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const key = Buffer.from((await fs.readFile(file, 'utf8')).trim(), 'base64');
  if (key.length !== 32) throw new MasterKeyMismatchError(`Configuration error: ${file} does not hold a 32-byte base64 key.`);
  return key;
}
