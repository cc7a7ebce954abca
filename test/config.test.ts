import { ConfigError } from '../src/config/config-error.ts';
import { loadConfig } from '../src/config/index.ts';

describe('configuration from the environment', () => {
  test('defaults follow DESIGN.md', () => {
    const config = loadConfig({});
    expect(config.port).toBe(3000);
    expect(config.issuer).toBe('http://localhost:3000');
    expect(config.databaseUrl).toBeUndefined();
    expect(config.dataDir).toMatch(/\/data$/);
    expect(config.smtpUrl).toBeUndefined();
    expect(config.ttl.resetTokenSeconds).toBe(3600);
    expect(config.ttl.sessionIdleSeconds).toBe(30 * 60);
    expect(config.ttl.sessionSeconds).toBe(12 * 3600);
  });

  test('SESSION_IDLE_MINUTES sets the inactivity timeout', () => {
    expect(loadConfig({ SESSION_IDLE_MINUTES: '15' }).ttl.sessionIdleSeconds).toBe(900);
  });

  test('ISSUER loses a trailing slash and empty values count as unset', () => {
    const config = loadConfig({ ISSUER: 'https://sso.example.org/', DATABASE_URL: '', SMTP_URL: ' ' });
    expect(config.issuer).toBe('https://sso.example.org');
    expect(config.databaseUrl).toBeUndefined();
    expect(config.smtpUrl).toBeUndefined();
  });

  test.each([
    [{ PORT: 'eighty' }, /^Configuration error: PORT /],
    [{ ISSUER: 'ftp://x' }, /^Configuration error: ISSUER /],
    [{ DATABASE_URL: 'mysql://x' }, /^Configuration error: DATABASE_URL /],
    [{ SMTP_URL: 'not a url' }, /^Configuration error: SMTP_URL /],
    [{ SESSION_IDLE_MINUTES: '0' }, /^Configuration error: SESSION_IDLE_MINUTES /],
    [{ SESSION_IDLE_MINUTES: 'half an hour' }, /^Configuration error: SESSION_IDLE_MINUTES /],
    [{ SECRETS_KEY: 'c2hvcnQ=' }, /^Configuration error: SECRETS_KEY must decode to 32 bytes\.$/],
  ])('%j is refused in one sentence', (environment, message) => {
    expect(() => loadConfig(environment)).toThrow(ConfigError);
    expect(() => loadConfig(environment)).toThrow(message);
  });
});
