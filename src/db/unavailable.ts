/** How long a client should wait before trying again while the database is unavailable. */
export const RETRY_AFTER_SECONDS = 30;

/** Socket errors of a connection that could not be made or was lost. */
const CONNECTION_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOENT',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/**
 * SQLSTATEs of a server that cannot serve right now, as opposed to a query that is wrong:
 * class 08 (connection exception), 53 (insufficient resources: disk full, out of memory, too many
 * connections), 57P01–57P03 (shutting down, starting up), and the refusal of a database that is
 * not accepting connections.
 */
function unavailableState(code: string): boolean {
  return code.startsWith('08') || code.startsWith('53') || /^57P0[1-3]$/.test(code);
}

/** Errors pg raises itself, with no code, when it cannot reach or lost the server. */
const DRIVER_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Query read timeout|Cannot use a pool after calling end|not currently accepting connections|Client has encountered a connection error/i;

/**
 * Whether an error means "the database cannot be used right now" (answer 503 and Retry-After)
 * rather than a defect (500). TypeORM wraps driver errors (`driverError`); others use `cause`.
 */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (!error || typeof error !== 'object' || depth > 4) return false;
  const { code, message, driverError, cause } = error as { code?: unknown; message?: unknown; driverError?: unknown; cause?: unknown };
  if (typeof code === 'string' && (CONNECTION_ERRORS.has(code) || unavailableState(code))) return true;
  if (typeof message === 'string' && DRIVER_MESSAGES.test(message)) return true;
  return isDatabaseUnavailable(driverError, depth + 1) || isDatabaseUnavailable(cause, depth + 1);
}
