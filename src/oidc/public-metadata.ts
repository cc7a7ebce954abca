import type Provider from 'oidc-provider';

/**
 * Discovery and the JWKS are the same for everyone and fetched by every relying party, so shared
 * caches may keep them, but only briefly: a key published by `keys rotate` must reach relying
 * parties well before `keys activate` signs with it (README, "Signing keys").
 */
const PUBLIC_METADATA_MAX_AGE_SECONDS = 300;

const CACHEABLE_ROUTES = new Set(['discovery', 'jwks']);

export function cachePublicMetadata(provider: Provider): void {
  provider.use(async (ctx, next) => {
    await next();
    const route = (ctx as { oidc?: { route?: string } }).oidc?.route;
    if (ctx.status === 200 && route && CACHEABLE_ROUTES.has(route)) {
      ctx.set('Cache-Control', `public, max-age=${PUBLIC_METADATA_MAX_AGE_SECONDS}`);
    }
  });
}
