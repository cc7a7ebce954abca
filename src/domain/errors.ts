/** Typed failures of the domain; src/http/errors.ts maps each kind to a response in one place. */
export class DomainError extends Error {
  readonly kind: 'validation' | 'not_found';
  readonly field: string | undefined;

  constructor(kind: DomainError['kind'], message: string, field?: string) {
    super(message);
    this.name = 'DomainError';
    this.kind = kind;
    this.field = field;
  }
}

export const validationError = (message: string, field?: string) => new DomainError('validation', message, field);
export const notFound = (message: string) => new DomainError('not_found', message);

export const isDomainError = (error: unknown): error is DomainError => error instanceof DomainError;
