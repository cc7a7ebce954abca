import type Koa from 'koa';

/** `GET http://other.example/path` (absolute form): koa would take the URL as given. */
const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i;

/**
 * Every absolute URL a koa application builds (`ctx.href`, `ctx.URL`, `ctx.host`, and through
 * them everything oidc-provider derives with `urlFor`: discovery, the logout form's action,
 * redirects) starts with the issuer's origin. The Host header, `X-Forwarded-Host` and an
 * absolute-form request line are written by whoever sends the request, so none of them is read.
 * `ctx.protocol`/`ctx.secure` stay as koa computes them (the socket, or `X-Forwarded-Proto` only
 * when TRUST_PROXY is set): they decide whether cookies are `Secure`, not what URLs say.
 * (koa documents `app.request` as the prototype of every request, meant for such additions.)
 */
export function pinOriginToIssuer(app: Koa, issuer: string): void {
  const { origin, host } = new URL(issuer);
  Object.defineProperties(app.request, {
    host: { configurable: true, get: () => host },
    href: {
      configurable: true,
      get(this: Koa.Request) {
        return `${origin}${this.originalUrl.replace(ABSOLUTE_FORM, '')}`;
      },
    },
    URL: {
      configurable: true,
      get(this: Koa.Request) {
        return URL.parse(this.href) ?? Object.create(null);
      },
    },
  });
}
