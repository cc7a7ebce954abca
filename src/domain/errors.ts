import type { Message } from '../i18n/words.ts';

/**
 * Typed failures of the domain; src/http/errors.ts maps each kind to a response in one place.
 * `message` is English, for the CLI, the API and logs; `words`, when present, is what a page says
 * instead, in the reader's language (a key under locales/).
 */
export class DomainError extends Error {
  readonly kind: 'validation' | 'not_found' | 'forbidden' | 'conflict' | 'rate_limited';
  readonly field: string | undefined;
  readonly words: Message | undefined;

  constructor(kind: DomainError['kind'], message: string, field?: string, words?: Message) {
    super(message);
    this.name = 'DomainError';
    this.kind = kind;
    this.field = field;
    this.words = words;
  }
}

export const validationError = (message: string, field?: string, words?: Message) => new DomainError('validation', message, field, words);
export const notFound = (message: string, words?: Message) => new DomainError('not_found', message, undefined, words);
/** The actor is known but its role does not allow this. */
export const forbidden = (message: string, words?: Message) => new DomainError('forbidden', message, undefined, words);
export const conflict = (message: string, words?: Message) => new DomainError('conflict', message, undefined, words);
export const rateLimited = (message: string, words?: Message) => new DomainError('rate_limited', message, undefined, words);

export const isDomainError = (error: unknown): error is DomainError => error instanceof DomainError;

/** The HTTP status of each kind, for every front end that speaks HTTP. */
export const STATUS_OF_KIND: Record<DomainError['kind'], number> = {
  validation: 400,
  not_found: 404,
  forbidden: 403,
  conflict: 409,
  rate_limited: 429,
};
