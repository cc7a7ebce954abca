import { InitialSchema1764000000000 } from './1764000000000-initial-schema.ts';

/** Listed explicitly, in order: no glob, so a stray file can never change the schema. */
export const migrations = [InitialSchema1764000000000];
