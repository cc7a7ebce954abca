import type { KoaContextWithOIDC } from 'oidc-provider';

/** The endpoints where a client authenticates itself (client_secret_basic for Gatehouse's clients). */
const CLIENT_AUTHENTICATED_ROUTES: ReadonlySet<string> = new Set(['token', 'introspection', 'revocation', 'pushed_authorization_request']);

/** What oidc-provider 9 says when a request carries no client authentication at all. */
const NO_CLIENT_AUTHENTICATION = 'no client authentication mechanism provided';

type OAuthError = { error: string; error_description?: string };

const isOAuthError = (body: unknown): body is OAuthError =>
  typeof body === 'object' && body !== null && typeof (body as OAuthError).error === 'string';

/**
 * These endpoints are for machines and RFC 6749 §5.2 answers them in JSON, whatever the Accept
 * header says: oidc-provider's HTML error page is for browsers. renderError defers to this.
 */
export function answersInJson(ctx: KoaContextWithOIDC): boolean {
  // Stryker disable next-line StringLiteral: no route has the fallback's name, whatever it is.
  return CLIENT_AUTHENTICATED_ROUTES.has(ctx.oidc?.route ?? '');
}

/**
 * RFC 6749 §5.2: a client that did not authenticate at all gets 401 invalid_client, as one that
 * failed to, and every 401 invalid_client names the scheme to use (`WWW-Authenticate: Basic`).
 * oidc-provider answers the first with 400 invalid_request, and adds the header only when the
 * request had an Authorization header. Runs around the provider's own error handling.
 */
export function clientAuthenticationErrors(issuer: string) {
  return async (ctx: KoaContextWithOIDC, next: () => Promise<unknown>) => {
    await next();
    if (!answersInJson(ctx) || !isOAuthError(ctx.body)) return;
    let { error } = ctx.body;
    if (error === 'invalid_request' && ctx.body.error_description === NO_CLIENT_AUTHENTICATION) {
      error = 'invalid_client';
      ctx.status = 401;
      ctx.body = { error, error_description: 'client authentication failed' };
    }
    if (ctx.status === 401 && error === 'invalid_client' && !ctx.response.get('WWW-Authenticate')) {
      ctx.set('WWW-Authenticate', `Basic realm="${quoted(issuer)}", error="invalid_client"`);
    }
  };
}

/** RFC 7230 quoted-string: an issuer URL may hold `"` or `\\`, which must not end the parameter. */
const quoted = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
