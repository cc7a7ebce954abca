import { useGatehouse } from './support/fixture.ts';
import { discovery } from './support/oidc.ts';

/**
 * The discovery modules of the OpenID Foundation's plans, against a Gatehouse whose ISSUER is
 * https (as any deployment to be certified is: the suite requires every endpoint to be https):
 * Config OP's `oidcc-discovery-endpoint-verification`, RP-Initiated Logout's
 * `oidcc-rp-initiated-logout-discovery-endpoint-verification` and Back-Channel Logout's
 * `oidcc-backchannel-logout-discovery-endpoint-verification`. The checks are the suite's, written here.
 */
const ISSUER = 'https://gatehouse.test';
const world = useGatehouse({ client: false, env: { ISSUER } });

type Metadata = Record<string, unknown>;
let metadata: Metadata;

beforeAll(async () => {
  // Served at the discovery URL as 200 application/json, or discovery() fails.
  metadata = await discovery<Metadata>(world.gatehouse.url);
});

/** The JWKS at jwks_uri, fetched from where this Gatehouse listens. */
async function jwks() {
  const path = new URL(metadata.jwks_uri as string).pathname;
  const response = await fetch(`${world.gatehouse.url}${path}`);
  expect(response.status).toBe(200);
  return (await response.json()) as { keys: Array<Record<string, unknown>> };
}

const PRIVATE_PARTS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

test('oidcc-discovery-endpoint-verification: what OpenID Connect Discovery §3 and RFC 8414 §2 require, every endpoint https', async () => {
  // The issuer is the discovery URL's prefix (Discovery §4.3), an https URL with no query or fragment.
  expect(metadata.issuer).toBe(ISSUER);
  const issuer = new URL(metadata.issuer as string);
  expect([issuer.protocol, issuer.search, issuer.hash]).toEqual(['https:', '', '']);

  // Response types: at least one of OpenID Connect's; subject types; ID tokens signed with RS256.
  expect(metadata.response_types_supported).toContain('code');
  expect(metadata.subject_types_supported).toEqual(['public']);
  expect(metadata.id_token_signing_alg_values_supported).toContain('RS256');

  // Every endpoint and URI is https, under the issuer.
  const urls = Object.entries(metadata).filter(([name]) => name.endsWith('_endpoint') || name === 'jwks_uri');
  expect(urls.map(([name]) => name)).toEqual(
    expect.arrayContaining(['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'registration_endpoint', 'jwks_uri']),
  );
  for (const [name, value] of urls) expect([name, value]).toEqual([name, expect.stringMatching(new RegExp(`^${ISSUER}/`))]);

  // The JWKS: public RSA signing keys only, each with a kid, no two alike (OIDC Core §10.1, RFC 7517 §4.5).
  const { keys } = await jwks();
  expect(keys.length).toBeGreaterThanOrEqual(1);
  for (const key of keys) {
    expect(key).toMatchObject({ kty: 'RSA', use: 'sig', alg: 'RS256', kid: expect.any(String), n: expect.any(String), e: 'AQAB' });
    for (const part of PRIVATE_PARTS) expect(key).not.toHaveProperty(part);
  }
  expect(new Set(keys.map((key) => key.kid)).size).toBe(keys.length);

  // The claims parameter, claims_supported, grant types, scopes (with openid, in RFC 6749 §3.3 syntax), PKCE methods.
  expect(metadata.claims_parameter_supported).toBe(true);
  expect(metadata.claims_supported).toEqual(expect.arrayContaining(['sub', 'iss', 'acr', 'amr', 'email', 'name', 'school_id']));
  expect(metadata.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token']));
  const scopes = metadata.scopes_supported as string[];
  expect(scopes).toContain('openid');
  for (const scope of scopes) expect(scope).toMatch(/^[\x21\x23-\x5b\x5d-\x7e]+$/);
  expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
  // Optional members Gatehouse leaves out, which the suite then skips: signed userinfo and request objects.
  for (const absent of ['userinfo_signing_alg_values_supported', 'request_object_signing_alg_values_supported']) {
    expect(metadata).not.toHaveProperty(absent);
  }
});

test('oidcc-rp-initiated-logout-discovery-endpoint-verification: an https end_session_endpoint', () => {
  expect(metadata.end_session_endpoint).toBe(`${ISSUER}/session/end`);
});

test('oidcc-backchannel-logout-discovery-endpoint-verification: back-channel logout with sid, and the end_session_endpoint', () => {
  expect(metadata).toMatchObject({
    backchannel_logout_supported: true,
    backchannel_logout_session_supported: true,
    end_session_endpoint: `${ISSUER}/session/end`,
  });
});
