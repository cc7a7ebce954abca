import { refusal } from './authority.ts';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

/** One page of a list and, when there is more, the opaque cursor that asks for the next. */
export type Page<T> = { items: T[]; nextCursor: string | null };

export type PageRequest = { cursor?: string | undefined; limit?: number | undefined };

/** The type of each part of a sort key: checked before a cursor reaches SQL, where a wrong type would be a 500. */
export type KeyPart = 'text' | 'uuid' | 'timestamp' | 'serial';

/**
 * A time as PostgreSQL wrote it (to the microsecond, UTC) that names a real instant: Date.parse
 * accepts 30 February (as 1 March) and year 0, which PostgreSQL refuses with an error.
 */
function isRealInstant(part: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/.test(part) || part.startsWith('0000')) return false;
  const seconds = part.slice(0, 19);
  const instant = new Date(`${seconds}Z`);
  // A day or hour past its end rolls over into the next: the instant then reads back differently.
  return !Number.isNaN(instant.getTime()) && instant.toISOString().startsWith(seconds);
}

const fitsPart: Record<KeyPart, (part: string) => boolean> = {
  text: (part) => part.length <= 400 && part.isWellFormed() && !part.includes('\u0000'),
  uuid: (part) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(part),
  timestamp: isRealInstant,
  serial: (part) => /^[1-9]\d{0,17}$/.test(part),
};

/** A cursor is the sort key of the last row shown, opaque to callers. */
export function encodeCursor(key: readonly string[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor(cursor: string | undefined, shape: readonly KeyPart[]): string[] | null {
  if (cursor === undefined) return null;
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = undefined;
  }
  const fits =
    Array.isArray(key) &&
    key.length === shape.length &&
    key.every((part, index) => typeof part === 'string' && fitsPart[shape[index]!](part));
  if (!fits)
    throw refusal(
      'validation',
      'The cursor is not one this service handed out: start again from the first page.',
      'badCursor',
      undefined,
      'cursor',
    );
  return key as string[];
}

/**
 * Runs a keyset query for one row more than the page holds, to know whether there is a next
 * page without counting the table.
 */
export async function pageOf<R, T>(
  request: PageRequest,
  shape: readonly KeyPart[],
  fetch: (after: string[] | null, limit: number) => Promise<R[]>,
  keyOf: (row: R) => readonly string[],
  present: (row: R) => T,
): Promise<Page<T>> {
  const limit = Math.min(Math.max(request.limit ?? DEFAULT_PAGE_SIZE, 1), MAX_PAGE_SIZE);
  const rows = await fetch(decodeCursor(request.cursor, shape), limit + 1);
  const shown = rows.slice(0, limit);
  const last = shown.at(-1);
  return { items: shown.map(present), nextCursor: rows.length > limit && last ? encodeCursor(keyOf(last)) : null };
}
