/**
 * Plain words for the OAuth errors oidc-provider shows a person's browser (its renderError): what
 * happened and what to do next, under `errors.oauth.<key>` in locales/. The OAuth code itself is
 * only for the school's IT staff, in small print.
 */
export const OAUTH_ERROR_WORDS: ReadonlySet<string> = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_redirect_uri',
  'web_message_uri_mismatch',
  'unauthorized_client',
  'unsupported_response_type',
  'unsupported_response_mode',
  'invalid_scope',
  'access_denied',
  'login_required',
  'consent_required',
  'interaction_required',
  'invalid_request_uri',
  'invalid_request_object',
  'request_not_supported',
  'request_uri_not_supported',
  'registration_not_supported',
  'server_error',
  'temporarily_unavailable',
  'invalid_target',
  'invalid_grant',
  'session_not_found',
  'unmet_authentication_requirements',
]);

/** Errors after which Account settings is a way on (a device to add, a sign-in to start again from there). */
const HELPED_BY_ACCOUNT: ReadonlySet<string> = new Set([
  'access_denied',
  'login_required',
  'consent_required',
  'interaction_required',
  'session_not_found',
  'unmet_authentication_requirements',
  'logoutExpired',
  'logoutRequest',
]);

/** The routes of the logout journey: their errors are about logging out, not signing in. */
const LOGOUT_ROUTES: ReadonlySet<string> = new Set(['end_session', 'end_session_confirm']);

export type OAuthErrorWords = { key: string; manageAccount: boolean };

/**
 * The words for an OAuth error at a route: `errors.oauth.<code>`, `session_not_found` for
 * oidc-provider's SessionNotFound (an `invalid_request` by code), the logout pages' own words, and
 * `errors.oauth.default` for any code without words of its own.
 */
export function oauthErrorWords(route: string | undefined, code: string, errorName?: string): OAuthErrorWords {
  let name: string;
  if (route && LOGOUT_ROUTES.has(route) && code !== 'server_error' && code !== 'temporarily_unavailable') {
    // The confirmation form's xsrf no longer matches (left open, or another tab), or the school system's request was wrong.
    name = route === 'end_session_confirm' ? 'logoutExpired' : 'logoutRequest';
  } else if (errorName === 'SessionNotFound') {
    name = 'session_not_found';
  } else {
    name = OAUTH_ERROR_WORDS.has(code) ? code : 'default';
  }
  return { key: `oauth.${name}`, manageAccount: HELPED_BY_ACCOUNT.has(name) };
}
