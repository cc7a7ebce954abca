import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { ADMIN_API_SCOPE } from '../../domain/clients.ts';
import { ProblemError } from './problems.ts';

const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/;

/** RFC 6750 §3: the challenge says what went wrong, for clients that read headers, not bodies. */
function refused(ctx: Context, status: 401 | 403, error: string, detail: string): ProblemError {
  const challenge = `Bearer realm="gatehouse", error="${error}"${error === 'insufficient_scope' ? `, scope="${ADMIN_API_SCOPE}"` : ''}`;
  ctx.set('WWW-Authenticate', status === 401 && error === '' ? 'Bearer realm="gatehouse"' : challenge);
  return new ProblemError({
    status,
    kind: status === 401 ? 'unauthorized' : 'insufficient_scope',
    title: status === 401 ? 'Not authenticated' : 'Not allowed',
    detail,
  });
}

/**
 * The client an access token was issued to by Gatehouse's own token endpoint (client_credentials,
 * scope gatehouse:admin). The token is looked up in the provider's store, so a revoked or expired
 * token is refused at once; a sender-constrained (DPoP or mTLS) token is refused as a bearer.
 */
export async function apiClientOf(ctx: Context, provider: Provider): Promise<string> {
  const header = ctx.get('Authorization');
  if (!header)
    throw refused(ctx, 401, '', 'Send an access token: Authorization: Bearer <token> (client_credentials, scope gatehouse:admin).');
  const value = BEARER.exec(header)?.[1];
  if (!value) throw refused(ctx, 401, 'invalid_request', 'The Authorization header must be "Bearer <access token>".');
  const token = await provider.ClientCredentials.find(value);
  if (!token || token.jkt || token['x5t#S256'])
    throw refused(ctx, 401, 'invalid_token', 'The access token is not valid: it may have expired.');
  if (
    !String(token.scope ?? '')
      .split(' ')
      .includes(ADMIN_API_SCOPE)
  ) {
    throw refused(ctx, 403, 'insufficient_scope', `The access token was not issued for ${ADMIN_API_SCOPE}.`);
  }
  if (!(await provider.Client.find(token.clientId!)))
    throw refused(ctx, 401, 'invalid_token', 'The client of this token no longer exists.');
  return token.clientId!;
}
