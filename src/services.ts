import type { Logger } from 'pino';
import { loadSecretBox } from './auth/master-key.ts';
import { ThrottleService } from './auth/throttle.ts';
import type { SecretBox } from './auth/secret-box.ts';
import type { AppConfig } from './config/index.ts';
import type { Database } from './db/database.ts';
import { repositoriesFor, unitOfWork, type Repositories, type UnitOfWork } from './db/repositories/index.ts';
import { createCaches } from './db/caches.ts';
import { ChangeFeed } from './db/change-feed.ts';
import type { Change } from './db/repositories/changes.ts';
import { followKeyChanges } from './oidc/live-keys.ts';
import { AdministrationService } from './admin/service.ts';
import { AccessService } from './domain/access.ts';
import { AccountService } from './domain/accounts.ts';
import { AuthenticationService } from './domain/authentication.ts';
import { AuthenticatorService } from './domain/authenticators.ts';
import { BackupCodeService } from './domain/backup-codes.ts';
import { AuditService } from './domain/audit.ts';
import { ClientService } from './domain/clients.ts';
import { FreshProofService } from './domain/fresh-proof.ts';
import { DEFAULT_SCHEDULE, OutboundDeliveryService } from './domain/outbound.ts';
import { PasskeyService } from './domain/passkeys.ts';
import { PasswordResetService } from './domain/password-reset.ts';
import { SchoolService } from './domain/schools.ts';
import { createMailer, type Mailer } from './mail/mailer.ts';
import { createAdapterClass } from './oidc/adapter.ts';
import { auditProviderEvents } from './oidc/audit-events.ts';
import { queueBackchannelLogout } from './oidc/backchannel.ts';
import { activateNextSigningKey, addNextSigningKey, listSigningKeys, loadProviderKeys, loadSigningKeys } from './oidc/keys.ts';
import { createProvider } from './oidc/provider.ts';
import { SCHOOL_SYSTEM_POLICY } from './oidc/registration-policy.ts';
import { loadViews } from './http/views.ts';
import { createWords } from './i18n/words.ts';
import type Provider from 'oidc-provider';
import type { ViewRenderer } from './http/views.ts';
import type { ProviderKeys } from './oidc/keys.ts';

/** The embedded database carries no notifications between processes: a change reaches them this fast. */
const EMBEDDED_REFRESH_SECONDS = 2;

type OidcParts = { provider: Provider; keys: ProviderKeys; render: ViewRenderer; liveKeys: { settled(): Promise<void> } };

export type Services = Awaited<ReturnType<typeof createServices>>;

/** The composition root shared by the server and the admin CLI: one service layer, two front ends. */
export async function createServices(database: Database, config: AppConfig, logger: Logger) {
  const repositories = repositoriesFor(database.dataSource.manager);
  const transaction: UnitOfWork = unitOfWork(database.dataSource);
  const box: SecretBox = await loadSecretBox(repositories.secrets, config);
  const words = createWords(config, {
    // A missing word is a bug the tests must catch; in production the English words stand in.
    strict: config.env === 'test',
    onMissing: (key, language) => logger.error({ key, language }, 'no words for this key: English used'),
  });
  const mailer: Mailer = await createMailer({
    smtpUrl: config.smtpUrl,
    from: config.mailFrom,
    dataDir: config.dataDir,
    logger,
    words,
    serviceName: config.serviceName,
    helpdeskContact: config.helpdeskContact,
  });
  // Started by the server only (the CLI announces changes but caches nothing).
  const changeFeed = new ChangeFeed({
    connectionString: database.url,
    listen: config.databaseUrl !== undefined,
    refreshSeconds: config.databaseUrl ? config.cacheRefreshSeconds : Math.min(config.cacheRefreshSeconds, EMBEDDED_REFRESH_SECONDS),
    logger,
  });
  const caches = createCaches(changeFeed, repositories);
  /**
   * A change to cached data: every process forgets it once `scope` has committed (this one
   * directly, the others through NOTIFY), so no read in between can keep the old value here.
   */
  const announce = async (change: Change, scope: Repositories = repositories) => {
    await scope.changes.announce(change);
    scope.afterCommit(() => changeFeed.local(change));
  };
  const clientStore = (scope: Repositories) =>
    new (createAdapterClass(scope.oidcPayloads, box, { onClientChange: (id) => announce({ topic: 'client', id }, scope) }))('Client');
  const throttle = new ThrottleService(repositories.throttle);
  const audit = new AuditService(repositories, logger, caches.schoolsOfClient);
  const authenticators = new AuthenticatorService(repositories, transaction, box, mailer, logger, audit, {
    serviceName: config.serviceName,
  });
  const backupCodes = new BackupCodeService({ repositories, transaction, box, mailer, logger, audit });
  const authentication = new AuthenticationService(
    repositories,
    throttle,
    authenticators,
    audit,
    mailer,
    logger,
    config.passwordHash,
    backupCodes,
  );
  const outbound = new OutboundDeliveryService(repositories, audit, logger, {
    ...DEFAULT_SCHEDULE,
    baseSeconds: config.outbound.retryBaseSeconds,
  });
  const schools = new SchoolService(repositories);
  const accounts = new AccountService(repositories, transaction);
  const clients = new ClientService(transaction, clientStore, announce);
  const keysChanged = async <T>(result: T) => {
    await announce({ topic: 'keys' });
    return result;
  };
  const keys = {
    rotate: async () => keysChanged(await addNextSigningKey(repositories.secrets, box)),
    activate: async () => keysChanged(await activateNextSigningKey(repositories.secrets, box)),
    list: () => listSigningKeys(repositories.secrets, box),
  };
  const passwordReset = new PasswordResetService(repositories, transaction, mailer, throttle, audit, {
    issuer: config.issuer,
    tokenTtlSeconds: config.ttl.resetTokenSeconds,
    logger,
    passwordHash: config.passwordHash,
  });
  const services = {
    config,
    logger,
    words,
    repositories,
    box,
    mailer,
    changeFeed,
    caches,
    oidcAdapter: createAdapterClass(repositories.oidcPayloads, box, {
      clientCache: caches.clients,
      onClientChange: (id) => announce({ topic: 'client', id }),
    }),
    schools,
    accounts,
    access: new AccessService(repositories, caches.schoolsOfClient),
    clients,
    throttle,
    authenticators,
    backupCodes,
    passkeys: new PasskeyService({
      repositories,
      transaction,
      mailer,
      logger,
      audit,
      issuer: config.issuer,
      serviceName: config.serviceName,
    }),
    audit,
    outbound,
    keys,
    authentication,
    freshProof: new FreshProofService(repositories, authentication),
    passwordReset,
    admin: new AdministrationService({
      repositories,
      transaction,
      audit,
      passwordReset,
      accounts,
      authenticators,
      clients,
      keys,
      schools,
      initialAccessToken: async (days): Promise<string> => {
        const { provider }: OidcParts = await services.oidc();
        return new provider.InitialAccessToken({ expiresIn: days * 86_400, policies: [SCHOOL_SYSTEM_POLICY] }).save();
      },
    }),
    /** The provider over these services, with its keys and views; built once, on first use. */
    oidc: (): Promise<OidcParts> => {
      oidc ??= (async () => {
        const [keys, render] = await Promise.all([loadProviderKeys(repositories.secrets, box), loadViews(words, config)]);
        const provider = createProvider(services as unknown as Services, keys, render);
        auditProviderEvents(provider, services as unknown as Services);
        queueBackchannelLogout(provider, outbound, logger);
        const liveKeys = followKeyChanges(provider, keys.jwks, changeFeed, () => loadSigningKeys(repositories.secrets, box), logger);
        return { provider, keys, render, liveKeys };
      })();
      return oidc;
    },
  };
  let oidc: Promise<OidcParts> | undefined;
  return services;
}
