import type { WordValues } from '../i18n/words.ts';

/**
 * An error that ends a page request with a status and words for the person: `key` names
 * `errors.<key>` in locales/, which holds its `heading` and `detail` (what to do next).
 */
export class PageError extends Error {
  readonly status: number;
  readonly key: string;
  readonly values: WordValues | undefined;

  constructor(status: number, key: string, values?: WordValues) {
    super(key);
    this.name = 'PageError';
    this.status = status;
    this.key = key;
    this.values = values;
  }
}
