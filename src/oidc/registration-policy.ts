import { errors } from 'oidc-provider';
import { ADMIN_API_SCOPE, CLIENT_AUTH_METHODS, uriProblem } from '../domain/clients.ts';
import { PKCE_OPTIONAL } from './pkce.ts';

export const SCHOOL_SYSTEM_POLICY = 'school-system';

const ALLOWED_GRANTS = new Set(['authorization_code', 'refresh_token', 'client_credentials']);
const ALLOWED_RESPONSES = new Set(['code']);
/** School systems are confidential clients (DESIGN.md); PKCE is required on top. */
const ALLOWED_AUTH_METHODS: ReadonlySet<string> = new Set(CLIENT_AUTH_METHODS);

/**
 * Runs on dynamic registration and on every update through registration management (RFC 7591,
 * 7592): https URIs (http only on loopback for development), no wildcards, no fragments, and
 * only the flows Gatehouse supports for school systems.
 */
export async function schoolSystemPolicy(_ctx: unknown, properties: Record<string, unknown>): Promise<void> {
  const illFormed = illFormedField(properties);
  if (illFormed) throw new errors.InvalidClientMetadata(`${illFormed} is not valid Unicode text`);
  // Pairwise subjects are off: nothing needs it, and the provider would fetch it at registration,
  // letting anyone with an initial access token probe hosts Gatehouse can reach.
  if (properties.sector_identifier_uri !== undefined) {
    throw new errors.InvalidClientMetadata('sector_identifier_uri is not supported: Gatehouse issues public subject identifiers');
  }
  // Going without PKCE is the helpdesk's decision for a client it registers, never the registrant's.
  if (properties[PKCE_OPTIONAL] !== undefined) {
    throw new errors.InvalidClientMetadata(`${PKCE_OPTIONAL} cannot be registered: every school system uses PKCE`);
  }
  // The management API's scope comes only with an API role, which only the helpdesk gives.
  if (stringsOf('scope', properties.scope).some((scope) => scope.split(' ').includes(ADMIN_API_SCOPE))) {
    throw new errors.InvalidClientMetadata(`scope ${ADMIN_API_SCOPE} cannot be registered: ask the helpdesk for an API client`);
  }
  // RFC 7591 §3.2.2: a bad redirect URI has its own error code, which oidc-provider gives a
  // description that starts with the field's name.
  for (const uri of stringsOf('redirect_uris', properties.redirect_uris)) {
    const problem = uriProblem(uri);
    if (problem) throw new errors.InvalidClientMetadata(`redirect_uris: ${problem}`);
  }
  const otherUris = [
    ...stringsOf('post_logout_redirect_uris', properties.post_logout_redirect_uris),
    ...stringsOf('backchannel_logout_uri', properties.backchannel_logout_uri),
  ];
  for (const uri of otherUris) {
    const problem = uriProblem(uri);
    if (problem) throw new errors.InvalidClientMetadata(problem);
  }
  for (const uri of stringsOf('jwks_uri', properties.jwks_uri)) {
    // Fetched by the provider: https only, never a loopback or internal http address.
    if (!uri.startsWith('https://')) throw new errors.InvalidClientMetadata('jwks_uri must use https');
  }
  const [authMethod = 'client_secret_basic'] = stringsOf('token_endpoint_auth_method', properties.token_endpoint_auth_method);
  if (!ALLOWED_AUTH_METHODS.has(authMethod)) {
    throw new errors.InvalidClientMetadata(
      `token_endpoint_auth_method ${authMethod} is not allowed: school systems are confidential clients`,
    );
  }
  for (const grant of stringsOf('grant_types', properties.grant_types ?? ['authorization_code'])) {
    if (!ALLOWED_GRANTS.has(grant)) throw new errors.InvalidClientMetadata(`grant type ${grant} is not supported`);
  }
  for (const type of stringsOf('response_types', properties.response_types ?? ['code'])) {
    if (!ALLOWED_RESPONSES.has(type)) throw new errors.InvalidClientMetadata(`response type ${type} is not supported`);
  }
}

/**
 * The first field holding a string with a lone surrogate ("\ud800" in JSON): PostgreSQL cannot
 * store one, so it would fail at the database as a 500 instead of here as a 400.
 */
function illFormedField(value: unknown, field = ''): string | undefined {
  if (typeof value === 'string') return value.isWellFormed() ? undefined : field || 'a value';
  if (Array.isArray(value)) return value.map((item) => illFormedField(item, field)).find(Boolean);
  if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const found = !key.isWellFormed() ? 'a field name' : illFormedField(item, field || key);
      if (found) return found;
    }
  }
  return undefined;
}

/** A field's values, refused with a 400 unless they are strings (anything else would reach String() or the database). */
function stringsOf(field: string, value: unknown): string[] {
  if (value === undefined || value === null) return [];
  const list: unknown[] = Array.isArray(value) ? value : [value];
  if (!list.every((item) => typeof item === 'string'))
    throw new errors.InvalidClientMetadata(`${field} must be text or a list of text values`);
  return list as string[];
}
