import * as client from 'openid-client';
import { useGatehouse } from './support/fixture.ts';
import { Agent, authorizationRequest, PASSWORD, REDIRECT_URI, relyingParty, staff, start, submitLogin } from './support/scenario.ts';

/**
 * The Basic OP plan's `oidcc-codereuse-30seconds`, in a file of its own so that its 30-second
 * wait runs beside the other test files instead of holding up conformance-basic.test.ts (where
 * `oidcc-codereuse` checks the same refusal at once). As the suite does, the request carries a
 * nonce and the relying party checks the ID token's signature; the request also carries PKCE.
 */
const world = useGatehouse();
const EMAIL = 'codereuse@hill.example';
let rp: client.Configuration;

beforeAll(async () => {
  await staff(world, EMAIL, 'basic');
  rp = await relyingParty(world.issuer, world.credentials);
  client.enableNonRepudiationChecks(rp);
});

test('oidcc-codereuse-30seconds: 30 seconds later the code is still refused, and the access token it gave is revoked', async () => {
  const nonce = client.randomNonce();
  const authorization = await authorizationRequest(rp, { nonce });
  const agent = new Agent(REDIRECT_URI);
  const callback = await agent.follow(await submitLogin(agent, await start(agent, authorization), EMAIL, PASSWORD));
  const redeem = () =>
    client.authorizationCodeGrant(rp, new URL(callback.location!), {
      pkceCodeVerifier: authorization.verifier,
      expectedState: authorization.state,
      expectedNonce: nonce,
    });
  const tokens = await redeem();
  const userinfo = async () => (await fetch(`${world.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status;
  expect(await userinfo()).toBe(200);

  await new Promise((resolve) => setTimeout(resolve, 30_000));
  await expect(redeem()).rejects.toMatchObject({ error: 'invalid_grant' });
  // RFC 6749 §4.1.2: the server SHOULD revoke the tokens issued on that code.
  expect(await userinfo()).toBe(401);
}, 60_000);
