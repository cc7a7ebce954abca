import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from './config-error.ts';
import { parseOutboundAllow, type OutboundAllow } from './outbound-allow.ts';
import { parsePasswordHash, type PasswordHashCost } from './password-hash.ts';

const optionalString = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .optional();

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const environmentSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  ISSUER: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  DATABASE_URL: optionalString.pipe(z.url({ protocol: /^postgres(ql)?$/ }).optional()),
  DATA_DIR: z.string().trim().min(1).default('./data'),
  SMTP_URL: optionalString.pipe(z.url({ protocol: /^smtps?$/ }).optional()),
  MAIL_FROM: optionalString,
  SERVICE_NAME: optionalString.pipe(z.string().max(60, 'must be at most 60 characters').optional()),
  HELPDESK_CONTACT: optionalString.pipe(z.string().max(200, 'must be at most 200 characters').optional()),
  SECRETS_KEY: optionalString.pipe(
    z
      .base64('must be base64')
      .refine((value) => Buffer.from(value, 'base64').length === 32, 'must decode to 32 bytes')
      .optional(),
  ),
  TRUST_PROXY: z.enum(['true', 'false', '1', '0', '']).default('false'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SHUTDOWN_TIMEOUT_SECONDS: positiveInt(10),
  RESET_TOKEN_TTL_MINUTES: positiveInt(60),
  SESSION_TTL_HOURS: positiveInt(12),
  SESSION_IDLE_MINUTES: positiveInt(30),
  INTERACTION_TTL_MINUTES: positiveInt(30),
  ACCESS_TOKEN_TTL_MINUTES: positiveInt(10),
  REFRESH_TOKEN_TTL_DAYS: positiveInt(14),
  SWEEP_INTERVAL_SECONDS: positiveInt(300),
  OUTBOUND_ALLOW: z.string().default(''),
  OUTBOUND_RETRY_BASE_SECONDS: positiveInt(10),
  PASSWORD_HASH: z.string().optional(),
  WORKERS: z.coerce.number().int().min(1).max(64).default(1),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(10),
  CACHE_REFRESH_SECONDS: positiveInt(60),
});

export type AppConfig = Readonly<{
  env: 'development' | 'production' | 'test';
  port: number;
  issuer: string;
  databaseUrl: string | undefined;
  dataDir: string;
  smtpUrl: string | undefined;
  /** The sender's address; the display name is the school's, or the service's, per mail. */
  mailFrom: string;
  /** What staff see where no school applies (pages reached directly, mails from no school's sign-in). */
  serviceName: string;
  /** Free text (phone, email) shown on error pages and in mails: who staff ask for help. */
  helpdeskContact: string | undefined;
  secretsKey: Buffer | undefined;
  trustProxy: boolean;
  logLevel: string;
  /** How long SIGTERM waits for requests in flight before cutting them. */
  shutdownTimeoutSeconds: number;
  ttl: Readonly<{
    resetTokenSeconds: number;
    sessionSeconds: number;
    sessionIdleSeconds: number;
    interactionSeconds: number;
    accessTokenSeconds: number;
    refreshTokenSeconds: number;
  }>;
  sweepIntervalSeconds: number;
  outbound: Readonly<{ allow: OutboundAllow; retryBaseSeconds: number }>;
  passwordHash: PasswordHashCost;
  /** Provider processes on this host (Node's cluster module); 1 serves from this process. */
  workers: number;
  databasePoolSize: number;
  /** How often cached clients, keys and schools are re-read even if no change was announced. */
  cacheRefreshSeconds: number;
}>;

export function loadConfig(environment: NodeJS.ProcessEnv = process.env): AppConfig {
  const parsed = environmentSchema.safeParse(environment);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = issue?.path.join('.') ?? 'environment';
    throw new ConfigError(`Configuration error: ${name} ${describeIssue(issue?.message)}.`);
  }
  const values = parsed.data;
  const issuer = (values.ISSUER ?? `http://localhost:${values.PORT}`).replace(/\/+$/, '');
  return {
    env: values.NODE_ENV,
    port: values.PORT,
    issuer,
    databaseUrl: values.DATABASE_URL,
    dataDir: path.resolve(values.DATA_DIR),
    smtpUrl: values.SMTP_URL,
    mailFrom: mailFromOf(values.MAIL_FROM, values.NODE_ENV),
    serviceName: values.SERVICE_NAME ?? DEFAULT_SERVICE_NAME,
    helpdeskContact: values.HELPDESK_CONTACT,
    secretsKey: values.SECRETS_KEY ? Buffer.from(values.SECRETS_KEY, 'base64') : undefined,
    trustProxy: values.TRUST_PROXY === 'true' || values.TRUST_PROXY === '1',
    logLevel: values.LOG_LEVEL,
    shutdownTimeoutSeconds: values.SHUTDOWN_TIMEOUT_SECONDS,
    ttl: {
      resetTokenSeconds: values.RESET_TOKEN_TTL_MINUTES * 60,
      sessionSeconds: values.SESSION_TTL_HOURS * 3600,
      sessionIdleSeconds: values.SESSION_IDLE_MINUTES * 60,
      interactionSeconds: values.INTERACTION_TTL_MINUTES * 60,
      accessTokenSeconds: values.ACCESS_TOKEN_TTL_MINUTES * 60,
      refreshTokenSeconds: values.REFRESH_TOKEN_TTL_DAYS * 86400,
    },
    sweepIntervalSeconds: values.SWEEP_INTERVAL_SECONDS,
    outbound: { allow: parseOutboundAllow(values.OUTBOUND_ALLOW), retryBaseSeconds: values.OUTBOUND_RETRY_BASE_SECONDS },
    passwordHash: parsePasswordHash(values.PASSWORD_HASH),
    workers: values.WORKERS,
    databasePoolSize: values.DATABASE_POOL_SIZE,
    cacheRefreshSeconds: values.CACHE_REFRESH_SECONDS,
  };
}

const PLACEHOLDER_SENDER = 'no-reply@gatehouse.invalid';
const DEFAULT_SERVICE_NAME = 'Gatehouse';

/**
 * Mail from a `.invalid` domain is never delivered and looks like phishing where it is: in
 * production the operator must name a real sender.
 */
function mailFromOf(value: string | undefined, env: AppConfig['env']): string {
  const address = value ?? PLACEHOLDER_SENDER;
  const match = /<([^<>]+)>\s*$/.exec(address);
  const bare = (match?.[1] ?? address).trim();
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(bare)) {
    throw new ConfigError(`Configuration error: MAIL_FROM must be an email address, like "no-reply@school-sso.example.org".`);
  }
  // A fully qualified name may end with a dot: `example.invalid.` is the same domain.
  if (env === 'production' && /\.invalid\.?$/i.test(bare)) {
    throw new ConfigError(
      'Configuration error: MAIL_FROM must be set to a real sending address in production (an address at a .invalid domain is never delivered).',
    );
  }
  return bare;
}

function describeIssue(message: string | undefined): string {
  const text = (message ?? 'is invalid').replace(/\.$/, '');
  return /^(must|is|should)\b/i.test(text) ? text : `is invalid (${text})`;
}
