import pino, { type Logger } from 'pino';

/**
 * JSON lines on stdout (or stderr: `destination` 2). Redaction is a second line of defence: nothing secret is logged on purpose.
 * `bindings` are added to every line, e.g. the worker id and pid when several processes share stdout.
 */
export function createLogger(level: string, bindings: Record<string, unknown> = {}, destination?: 2): Logger {
  const options: pino.LoggerOptions = {
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
  };
  // stderr, for a command whose stdout is its answer (the admin CLI's --json).
  return destination ? pino(options, pino.destination({ dest: destination, sync: true })) : pino(options);
}
