import crypto from 'node:crypto';
import Provider, { type Configuration } from 'oidc-provider';
import { pinOriginToIssuer } from '../http/issuer-origin.ts';
import type { ViewRenderer } from '../http/views.ts';
import { ACR_BASIC, ACR_HIGHER } from '../domain/access.ts';
import { sessionSecondsToSave } from '../domain/session-lifetime.ts';
import { createDestinationPolicy } from '../domain/outbound-destinations.ts';
import { hostedNotFound } from '../http/not-found.ts';
import { createOutboundFetch } from '../http/outbound-fetch.ts';
import type { Services } from '../services.ts';
import { ADMIN_API_SCOPE, CLIENT_AUTH_METHODS, SCHOOL_SYSTEM_SCOPES } from '../domain/clients.ts';
import { createFindAccount } from './accounts.ts';
import { assertReasonableClaims } from './claims-request.ts';
import { PKCE_OPTIONAL, pkceRequired, validatePkceOptional } from './pkce.ts';
import { clientAuthenticationErrors } from './client-authentication.ts';
import type { ProviderKeys } from './keys.ts';
import { ACCOUNT_CLIENT_ID, createInteractionPolicy } from './policy.ts';
import { providerPages } from './provider-pages.ts';
import { cachePublicMetadata } from './public-metadata.ts';
import { answerUnavailableWith503 } from './unavailable.ts';
import { SCHOOL_SYSTEM_POLICY, schoolSystemPolicy } from './registration-policy.ts';

export const SCOPES = [...SCHOOL_SYSTEM_SCOPES.split(' '), ADMIN_API_SCOPE];

/**
 * The session cookie: no Max-Age, so a browser-session cookie. oidc-provider adds Expires only
 * when the person ticked "Keep me signed in on this device" (login result `remember`).
 */
export const SESSION_COOKIE = { signed: true, httpOnly: true, sameSite: 'lax' } as const;

export function createProvider(services: Services, keys: ProviderKeys, render: ViewRenderer): Provider {
  const { config } = services;
  const pages = providerPages(services, render);
  const configuration: Configuration = {
    adapter: services.oidcAdapter,
    jwks: keys.jwks,
    cookies: {
      keys: keys.cookieKeys,
      long: SESSION_COOKIE,
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    findAccount: createFindAccount(services),
    clients: [
      {
        // /account signs in through the provider like any client, but only needs the session:
        // response_type=none returns to the callback with state and nothing else. It never calls
        // the token endpoint; a secret nobody knows keeps it from doing so (and keeps `none` out
        // of the methods discovery offers school systems).
        client_id: ACCOUNT_CLIENT_ID,
        client_name: config.serviceName,
        client_secret: crypto.randomBytes(32).toString('base64url'),
        token_endpoint_auth_method: 'client_secret_basic',
        response_types: ['none'],
        grant_types: [],
        redirect_uris: [`${config.issuer}/account/callback`],
      },
    ],
    scopes: SCOPES,
    claims: {
      openid: ['sub', 'acr', 'amr'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      school: ['school', 'access_level', 'schools', 'school_id', 'school_name', 'school_ids'],
    },
    acrValues: [ACR_BASIC, ACR_HIGHER],
    clientAuthMethods: [...CLIENT_AUTH_METHODS],
    // `school`: a client serving several schools may say which one this sign-in is for.
    // `school_client`: Account settings' own sign-in, reached from that school system (src/account/session.ts).
    extraParams: ['school', 'school_client'],
    // The school claims belong in the ID token too, not only at userinfo.
    conformIdTokenClaims: false,
    responseTypes: ['code', 'none'],
    pkce: { required: pkceRequired },
    extraClientMetadata: { properties: [PKCE_OPTIONAL], validator: validatePkceOptional },
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
      // A client registered without a scope list (dynamically, or before API roles existed) may
      // ask for these only: never the management API's scope.
      scope: SCHOOL_SYSTEM_SCOPES,
    },
    features: {
      devInteractions: { enabled: false },
      claimsParameter: { enabled: true, assertClaimsParameter: assertReasonableClaims },
      // A school system may only look at, or revoke, tokens issued to itself.
      introspection: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      backchannelLogout: { enabled: true },
      clientCredentials: { enabled: true },
      // Integrators register school systems with an initial access token from the CLI; every
      // registration and update passes the school-system policy. A registered client serves no
      // school until the helpdesk links it (`client link`).
      registration: {
        enabled: true,
        initialAccessToken: true,
        policies: { [SCHOOL_SYSTEM_POLICY]: schoolSystemPolicy },
      },
      registrationManagement: { enabled: true, rotateRegistrationAccessToken: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: pages.logoutSource,
        postLogoutSuccessSource: pages.postLogoutSuccessSource,
      },
    },
    interactions: {
      policy: createInteractionPolicy(services.access),
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    // Every client is a school system the helpdesk registered (first party): the grant covers what
    // it asks for without a consent screen. offline_access still needs prompt=consent upstream.
    loadExistingGrant: async (ctx) => {
      const clientId = ctx.oidc.client!.clientId;
      const session = ctx.oidc.session!;
      const existingId = ctx.oidc.result?.consent?.grantId ?? session.grantIdFor(clientId);
      const existing = existingId ? await ctx.oidc.provider.Grant.find(existingId) : undefined;
      const grant = existing ?? new ctx.oidc.provider.Grant({ clientId, accountId: session.accountId! });
      grant.addOIDCScope([...ctx.oidc.requestParamScopes].join(' '));
      grant.addOIDCClaims([...ctx.oidc.requestParamClaims]);
      const grantId = await grant.save();
      // The school for this client: chosen on the page (interaction result) or hinted by the client.
      const school = (ctx.oidc.result?.school as { id?: unknown } | undefined)?.id ?? ctx.oidc.params?.school;
      if (typeof school === 'string') await services.access.chooseSchool(session.accountId!, clientId, grantId!, school);
      return grant;
    },
    extraTokenClaims: async (ctx, token) => {
      // Userinfo and introspection see the authentication strength the access token came from.
      if (token.kind !== 'AccessToken') return undefined;
      const source = ctx.oidc.entities.AuthorizationCode ?? ctx.oidc.entities.RefreshToken;
      return source ? { acr: source.acr, amr: source.amr } : undefined;
    },
    renderError: pages.renderError,
    ttl: {
      AccessToken: config.ttl.accessTokenSeconds,
      AuthorizationCode: 60,
      ClientCredentials: config.ttl.accessTokenSeconds,
      IdToken: 3600,
      RefreshToken: config.ttl.refreshTokenSeconds,
      Grant: config.ttl.refreshTokenSeconds,
      // oidc-provider re-saves the session at the end of every request that loaded it, with this
      // lifetime: use moves the idle deadline, the absolute one (from sign-in) never moves, and a
      // request that did not use the session (a failed authorization, the sign-out form) moves nothing.
      Session: (ctx, session) =>
        sessionSecondsToSave(session, { route: ctx.oidc?.route, status: ctx.status }, Math.floor(Date.now() / 1000), {
          idleSeconds: config.ttl.sessionIdleSeconds,
          absoluteSeconds: config.ttl.sessionSeconds,
        }),
      Interaction: config.ttl.interactionSeconds,
    },
    rotateRefreshToken: true,
    // Every outbound call (back-channel logout, jwks_uri, sector_identifier_uri) obeys one rule.
    fetch: createOutboundFetch(createDestinationPolicy(config.issuer, config.outbound.allow), services.logger),
  };
  const provider = new Provider(config.issuer, configuration);
  provider.proxy = config.trustProxy;
  provider.maxIpsCount = 1;
  pinOriginToIssuer(provider, config.issuer);
  cachePublicMetadata(provider);
  answerUnavailableWith503(provider, render, services.words);
  provider.use(clientAuthenticationErrors(config.issuer));
  provider.use(pages.carryLogoutLanguage);
  // Any address nothing answers: the hosted 404 page for a browser, a plain 404 for a machine.
  provider.use(hostedNotFound(render, services.words));
  return provider;
}
