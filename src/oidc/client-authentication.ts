import type { KoaContextWithOIDC } from 'oidc-provider';

/** The endpoints where a client authenticates itself (client_secret_basic for Gatehouse's clients). */
const CLIENT_AUTHENTICATED_ROUTES: ReadonlySet<string> = new Set(['token', 'introspection', 'revocation', 'pushed_authorization_request']);

/**
 * Every `invalid_request` oidc-provider 9 raises while authenticating the client
 * (lib/shared/client_auth.js, authenticateClient), each of which RFC 6749 §5.2 and RFC 7523 §3.2
 * call a client-authentication failure: none at all, an Authorization header that is not Basic or
 * not `id:secret` in base64, an empty secret, credentials naming another client than `client_id`,
 * an unreadable client assertion or attestation. test/client-authentication.test.ts reads
 * client_auth.js and fails if the library gains one this list does not classify.
 */
export const CLIENT_AUTHENTICATION_FAILURES: ReadonlySet<string> = new Set([
  'no client authentication mechanism provided',
  'invalid authorization header value format',
  'client_id and client_secret in the authorization header are not properly encoded',
  'client_secret must be provided in the Authorization header',
  'client_id mismatch',
  'invalid client_assertion format',
  'client_assertion_type must be provided',
  'client_assertion_type must have value urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
  'invalid OAuth-Client-Attestation format',
]);

/** The one that stays invalid_request: RFC 6749 §5.2 names "more than one mechanism" there. */
export const MALFORMED_CLIENT_AUTHENTICATION: ReadonlySet<string> = new Set([
  'client authentication must only be provided using one mechanism',
]);

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
 * RFC 6749 §5.2: a client that did not authenticate at all, or whose authentication could not be
 * read, gets 401 invalid_client, as one that failed to, and every 401 invalid_client names the
 * scheme to use (`WWW-Authenticate: Basic`). oidc-provider answers the first two with 400
 * invalid_request, and adds the header only when the request had an Authorization header. Runs
 * around the provider's own error handling. Other invalid_request answers (a duplicated parameter,
 * a missing grant_type from an authenticated client) stay 400.
 */
export function clientAuthenticationErrors(issuer: string) {
  return async (ctx: KoaContextWithOIDC, next: () => Promise<unknown>) => {
    await next();
    if (!answersInJson(ctx) || !isOAuthError(ctx.body)) return;
    let { error } = ctx.body;
    if (error === 'invalid_request' && CLIENT_AUTHENTICATION_FAILURES.has(ctx.body.error_description ?? '')) {
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
