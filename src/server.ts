import Koa from 'koa';
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';
import { assetRoutes } from './http/assets.ts';
import { createCsrf } from './http/csrf.ts';
import { createDeviceCookies } from './http/device-cookie.ts';
import { errorPages } from './http/errors.ts';
import { languageOf, languageRoutes } from './http/language.ts';
import { healthRoutes } from './http/health.ts';
import { pinOriginToIssuer } from './http/issuer-origin.ts';
import { requestLog } from './http/request-log.ts';
import { securityHeaders } from './http/security-headers.ts';
import type { ViewRenderer } from './http/views.ts';
import { accountRoutes } from './account/routes.ts';
import { apiRouter } from './admin/api/router.ts';
import { consoleRoutes } from './admin/console/routes.ts';
import { passwordRoutes } from './interactions/password-routes.ts';
import { backupCodeSignInRoutes } from './interactions/backup-code-routes.ts';
import { passkeySignInRoutes } from './interactions/passkey-routes.ts';
import { passkeyEnrolRoutes } from './interactions/passkey-enrol-routes.ts';
import { signInRoutes } from './interactions/sign-in-routes.ts';
import { frontChannelPostRoutes } from './oidc/front-channel-post.ts';
import type { Services } from './services.ts';
import { withRequestMemo } from './domain/request-memo.ts';

/** oidc-provider's default routes for its machine endpoints (provider.ts keeps the defaults). */
const PROVIDER_MACHINE_PATHS: ReadonlySet<string> = new Set([
  '/token',
  '/me',
  '/jwks',
  '/token/introspection',
  '/token/revocation',
  '/.well-known/openid-configuration',
]);

type ServerDeps = {
  provider: Provider;
  services: Services;
  render: ViewRenderer;
  csrfKey: Buffer;
  ping: () => Promise<void>;
  /** True once shutdown has begun: /readyz says so while requests drain. */
  stopping: () => boolean;
  logger: Logger;
};

/** Composes koa: logging, headers, our pages and health first, then the provider for the rest. */
export async function createServer({ provider, services, render, csrfKey, ping, stopping, logger }: ServerDeps): Promise<Koa> {
  const { config } = services;
  // Behind a proxy, trust only the address the nearest proxy saw (the rightmost
  // X-Forwarded-For entry): the leftmost ones are whatever the client wrote.
  const app = new Koa({ proxy: config.trustProxy, maxIpsCount: 1 });
  app.keys = [csrfKey.toString('base64url')];
  pinOriginToIssuer(app, config.issuer);
  app.silent = true;
  const secure = config.issuer.startsWith('https:');
  const csrf = createCsrf(csrfKey);

  app.use(requestLog(logger));
  app.use(securityHeaders({ hsts: secure }));
  const health = healthRoutes(ping, stopping);
  app.use(health.routes());
  // The provider is a koa application of its own; it answers every path that is not ours.
  const handleOidc = provider.callback();
  const toProvider = async (ctx: Koa.Context) => {
    ctx.respond = false;
    await withRequestMemo(() => handleOidc(ctx.req, ctx.res));
  };
  // Machine-to-machine endpoints, called most, involve no page, form or cookie of ours: straight to the provider.
  app.use((ctx, next) => (PROVIDER_MACHINE_PATHS.has(ctx.path) ? toProvider(ctx) : next()));
  const assets = await assetRoutes();
  app.use(assets.routes());
  // The management API answers in JSON problem documents, before the HTML error pages below.
  const api = apiRouter({ admin: services.admin, provider, issuer: config.issuer, logger });
  app.use(api.routes());

  // Every page is in the person's language: the link's choice, else Accept-Language (a sign-in's
  // ui_locales is applied where the interaction is read, src/interactions/pages.ts).
  app.use((ctx, next) => {
    ctx.state.language = languageOf(ctx);
    return next();
  });
  // The provider renders its own errors; this catches what our pages throw.
  app.use(errorPages(render, services.words, logger));
  app.use(languageRoutes({ secure }).routes());
  const devices = createDeviceCookies(csrfKey, undefined, { secure });
  app.use(devices.middleware);
  const pages = { provider, services, render, csrf, devices };
  // The sign-in router ends with a catch-all for /interaction/:uid/:step: every other interaction router comes first.
  const routers = [
    frontChannelPostRoutes({ render, issuer: config.issuer, toProvider }),
    passwordRoutes(pages),
    backupCodeSignInRoutes(pages),
    passkeySignInRoutes(pages),
    passkeyEnrolRoutes(pages),
    signInRoutes(pages),
    accountRoutes(pages),
    consoleRoutes(pages),
  ];
  for (const router of routers) app.use(router.routes());

  app.use(toProvider);
  return app;
}
