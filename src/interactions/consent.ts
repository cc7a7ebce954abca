import type Provider from 'oidc-provider';
import type { InteractionDetails } from './pages.ts';

/** Every client is a school system registered by the helpdesk: first party, so no consent screen. */
export async function approveConsent(provider: Provider, details: InteractionDetails): Promise<string> {
  const accountId = details.session!.accountId;
  const clientId = String(details.params.client_id);
  const existing = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
  const grant = existing ?? new provider.Grant({ accountId, clientId });
  const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  grant.addOIDCScope(String(details.params.scope ?? 'openid'));
  return grant.save();
}
