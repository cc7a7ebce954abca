import pino, { type Logger } from 'pino';

/**
 * JSON lines on stdout. Redaction is a second line of defence: nothing secret is logged on purpose.
 * `bindings` are added to every line, e.g. the worker id and pid when several processes share stdout.
 */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { service: 'gatehouse', ...bindings },
    redact: {
      paths: [
        'password',
        '*.password',
        'token',
        '*.token',
        'client_secret',
        '*.client_secret',
        'err.parameters',
        'err.query',
        'err.driverError',
      ],
      censor: '[redacted]',
    },
  });
}
