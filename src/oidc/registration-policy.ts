import { errors } from 'oidc-provider';
import { uriProblem } from '../domain/clients.ts';

export const SCHOOL_SYSTEM_POLICY = 'school-system';

const ALLOWED_GRANTS = new Set(['authorization_code', 'refresh_token', 'client_credentials']);
const ALLOWED_RESPONSES = new Set(['code']);

/**
 * Runs on dynamic registration and on every update through registration management (RFC 7591,
 * 7592): https URIs (http only on loopback for development), no wildcards, no fragments, and
 * only the flows Gatehouse supports for school systems.
 */
export async function schoolSystemPolicy(_ctx: unknown, properties: Record<string, unknown>): Promise<void> {
  const uris = [
    ...asList(properties.redirect_uris),
    ...asList(properties.post_logout_redirect_uris),
    ...asList(properties.backchannel_logout_uri),
  ];
  for (const uri of uris) {
    const problem = uriProblem(uri);
    if (problem) throw new errors.InvalidClientMetadata(problem);
  }
  for (const grant of asList(properties.grant_types ?? ['authorization_code'])) {
    if (!ALLOWED_GRANTS.has(grant)) throw new errors.InvalidClientMetadata(`grant type ${grant} is not supported`);
  }
  for (const type of asList(properties.response_types ?? ['code'])) {
    if (!ALLOWED_RESPONSES.has(type)) throw new errors.InvalidClientMetadata(`response type ${type} is not supported`);
  }
}

function asList(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}
