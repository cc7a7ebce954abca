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
    [{ SERVICE_NAME: 'x'.repeat(61) }, /^Configuration error: SERVICE_NAME must be at most 60 characters\.$/],
    [{ HELPDESK_CONTACT: 'x'.repeat(201) }, /^Configuration error: HELPDESK_CONTACT must be at most 200 characters\.$/],
    [{ MAIL_FROM: 'the office' }, /^Configuration error: MAIL_FROM must be an email address/],
    [{ MAIL_FROM: 'Hill School <not an address>' }, /^Configuration error: MAIL_FROM must be an email address/],
  ])('%j is refused in one sentence', (environment, message) => {
    expect(() => loadConfig(environment)).toThrow(ConfigError);
    expect(() => loadConfig(environment)).toThrow(message);
  });
});

describe('the sender, the service and the helpdesk', () => {
  const production = (environment: Record<string, string>) => loadConfig({ NODE_ENV: 'production', ...environment });
  const REFUSED =
    /^Configuration error: MAIL_FROM must be set to a real sending address in production \(an address at a \.invalid domain is never delivered\)\.$/;

  test.each([
    ['unset', {}],
    ['a .invalid address', { MAIL_FROM: 'no-reply@gatehouse.invalid' }],
    ['a .INVALID address with a name', { MAIL_FROM: 'Hill School <sso@hill.INVALID>' }],
    ['a .invalid. address (fully qualified)', { MAIL_FROM: 'sso@hill.invalid.' }],
  ])('in production, MAIL_FROM %s is refused in a sentence that says what to do', (_case, environment) => {
    expect(() => production(environment)).toThrow(ConfigError);
    expect(() => production(environment)).toThrow(REFUSED);
  });

  test('in development and tests the placeholder sender is accepted, so mail can go to the outbox', () => {
    expect(loadConfig({}).mailFrom).toBe('no-reply@gatehouse.invalid');
    expect(loadConfig({ NODE_ENV: 'development', MAIL_FROM: 'sso@hill.invalid' }).mailFrom).toBe('sso@hill.invalid');
    expect(loadConfig({ NODE_ENV: 'test' }).mailFrom).toBe('no-reply@gatehouse.invalid');
  });

  test('MAIL_FROM may be `Name <address>`: the address is kept, the name is chosen per mail', () => {
    expect(production({ MAIL_FROM: 'Ceredigion SSO <sso@ceredigion.gov.uk>' }).mailFrom).toBe('sso@ceredigion.gov.uk');
    expect(production({ MAIL_FROM: '"Schools, Ceredigion" <sso@ceredigion.gov.uk> ' }).mailFrom).toBe('sso@ceredigion.gov.uk');
    expect(production({ MAIL_FROM: ' sso@invalid-domains.example.org ' }).mailFrom).toBe('sso@invalid-domains.example.org');
  });

  test('SERVICE_NAME names the service (Gatehouse when unset or empty); HELPDESK_CONTACT is free text, optional', () => {
    expect(loadConfig({})).toMatchObject({ serviceName: 'Gatehouse', helpdeskContact: undefined });
    expect(loadConfig({ SERVICE_NAME: ' ', HELPDESK_CONTACT: '' })).toMatchObject({ serviceName: 'Gatehouse', helpdeskContact: undefined });
    const named = loadConfig({
      SERVICE_NAME: ' Mewngofnodi Ysgolion Ceredigion ',
      HELPDESK_CONTACT: ' 01970 633 000, tg@ceredigion.gov.uk ',
    });
    expect(named).toMatchObject({ serviceName: 'Mewngofnodi Ysgolion Ceredigion', helpdeskContact: '01970 633 000, tg@ceredigion.gov.uk' });
    expect(loadConfig({ SERVICE_NAME: 'x'.repeat(60), HELPDESK_CONTACT: 'x'.repeat(200) })).toMatchObject({
      serviceName: 'x'.repeat(60),
      helpdeskContact: 'x'.repeat(200),
    });
  });
});
