import pino, { type Logger } from 'pino';

/** JSON lines on stdout. Redaction is a second line of defence: nothing secret is logged on purpose. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'gatehouse' },
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
