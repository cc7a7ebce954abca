import { ConfigError } from './config-error.ts';

/** argon2id cost: memory in KiB, passes, lanes. */
export type PasswordHashCost = Readonly<{ memoryKiB: number; passes: number; parallelism: number }>;

/** OWASP's baseline, and the default: 19 MiB, 2 passes, 1 lane. */
export const DEFAULT_PASSWORD_HASH: PasswordHashCost = { memoryKiB: 19_456, passes: 2, parallelism: 1 };

/**
 * OWASP's argon2id options trade memory for passes at equal defence; the weakest of them
 * (7 MiB with 5 passes) spends 35,840 KiB-passes. Below that a setting is refused, not weakened.
 */
const MINIMUM_MEMORY_KIB = 7_168;
const MINIMUM_KIB_PASSES = 35_840;
const MAXIMUM_MEMORY_KIB = 1_048_576;

const FORMAT = /^argon2id:m=(\d{1,7}),t=(\d{1,2}),p=(\d{1,2})$/;

/**
 * PASSWORD_HASH, e.g. `argon2id:m=19456,t=2,p=1`. A typo or a cost under OWASP's options is a
 * configuration error naming what is wrong, never a silent fallback.
 */
export function parsePasswordHash(value: string | undefined): PasswordHashCost {
  const text = value?.trim() ?? '';
  if (text === '') return DEFAULT_PASSWORD_HASH;
  const match = FORMAT.exec(text);
  if (!match) throw invalid(`"${text}" is not of the form argon2id:m=<KiB>,t=<passes>,p=<lanes> (e.g. argon2id:m=19456,t=2,p=1)`);
  const [memoryKiB, passes, parallelism] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (memoryKiB < MINIMUM_MEMORY_KIB || memoryKiB > MAXIMUM_MEMORY_KIB)
    throw invalid(`memory m=${memoryKiB} must be between ${MINIMUM_MEMORY_KIB} and ${MAXIMUM_MEMORY_KIB} KiB`);
  if (passes < 1 || parallelism < 1 || parallelism > 16) throw invalid('needs t of at least 1 and p between 1 and 16');
  if (memoryKiB * passes < MINIMUM_KIB_PASSES)
    throw invalid(`m×t = ${memoryKiB * passes} is weaker than OWASP's options (at least ${MINIMUM_KIB_PASSES}, e.g. m=19456,t=2)`);
  return { memoryKiB, passes, parallelism };
}

export function describePasswordHash(cost: PasswordHashCost): string {
  return `argon2id:m=${cost.memoryKiB},t=${cost.passes},p=${cost.parallelism}`;
}

function invalid(reason: string): ConfigError {
  return new ConfigError(`Configuration error: PASSWORD_HASH ${reason}.`);
}
