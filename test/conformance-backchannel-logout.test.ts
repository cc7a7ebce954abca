import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { formAction, formField, visibleText } from './support/agent.ts';
import { startLogoutReceiver } from './support/receiver.ts';
import {
  addClient,
  addSchool,
  addStaff,
  Agent,
  authorizationRequest,
  exchange,
  PASSWORD,
  REDIRECT_URI,
  relyingParty,
  start,
  submitLogin,
} from './support/scenario.ts';
import { useSpawnedGatehouse } from './support/spawned.ts';

/**
 * The OpenID Foundation's Back-Channel Logout OP plan (oidcc-backchannel-rp-initiated-logout-certification-test-plan):
 * `oidcc-backchannel-rp-initiated-logout`, with Gatehouse in its own process (oidc-provider's
 * outbound guard is live there, unlike inside Jest) and the school system's back-channel endpoint
 * on 127.0.0.1 (allowed because ISSUER is loopback). The discovery module is in
 * conformance-discovery.test.ts. This test process only prepares the data.
 */
const EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const SIGNED_OUT = 'http://localhost:65010/post_logout_redirect';
const email = 'backchannel@hill.example';
let receiver: Awaited<ReturnType<typeof startLogoutReceiver>>;
let credentials: { clientId: string; clientSecret: string };

const world = useSpawnedGatehouse({
  async prepare(services) {
    const school = await addSchool(services, 'Hill Primary School');
    await addStaff(services, email, [{ schoolId: school.id, accessLevel: 'basic' }]);
    receiver = await startLogoutReceiver();
    // What the suite asks of a static client: its back-channel endpoint and post-logout address registered.
    credentials = await addClient(services, 'Hill MIS', [school.id], {
      backchannelLogoutUri: receiver.uri,
      postLogoutRedirectUris: [SIGNED_OUT],
    });
  },
});

afterAll(() => receiver?.close());

test('oidcc-backchannel-rp-initiated-logout: a logout token that verifies for this sid and sub, the state back at the post_logout_redirect_uri, then prompt=none fails', async () => {
  const rp = await relyingParty(world.gatehouse.url, credentials);
  client.enableNonRepudiationChecks(rp);
  const agent = new Agent(REDIRECT_URI);
  const authorization = await authorizationRequest(rp, { scope: 'openid' });
  const callback = await agent.follow(await submitLogin(agent, await start(agent, authorization), email, PASSWORD));
  const tokens = await exchange(rp, callback, authorization);
  const idToken = tokens.claims()!;
  // Back-Channel Logout §2.1, and what the plan's discovery module requires: sid in the ID token.
  expect(idToken.sid).toEqual(expect.any(String));

  const state = client.randomState();
  const logout = client.buildEndSessionUrl(rp, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: SIGNED_OUT, state });
  const question = await agent.follow(await agent.get(logout.toString()));
  expect(visibleText(question.html)).toContain('Do you want to log out of Gatehouse and Hill MIS?');
  const done = await agent.post(new URL(formAction(question.html), question.url).toString(), {
    xsrf: formField(question.html, 'xsrf'),
    logout: 'yes',
  });
  // The front channel: back at the school system with its state and nothing else.
  expect((await new Agent('http://localhost:65010/').follow(done)).location).toBe(`${SIGNED_OUT}?state=${state}`);

  // The back channel (Back-Channel Logout §2.4, §2.5): one POST with a logout_token, signed by a published key.
  const [arrival] = await receiver.waitFor(1);
  expect(decodeProtectedHeader(arrival!.logoutToken)).toMatchObject({ alg: 'RS256', typ: 'logout+jwt' });
  const { payload } = await jwtVerify(arrival!.logoutToken, createRemoteJWKSet(new URL(`${world.gatehouse.url}/jwks`)), {
    issuer: world.gatehouse.url,
    audience: credentials.clientId,
    maxTokenAge: '5 minutes',
  });
  expect(payload).toMatchObject({ sub: idToken.sub, sid: idToken.sid, events: { [EVENT]: {} }, jti: expect.any(String) });
  expect(Object.keys(payload.events as object)).toEqual([EVENT]);
  expect(payload).not.toHaveProperty('nonce');

  // The session is over at Gatehouse.
  const silent = await start(agent, await authorizationRequest(rp, { prompt: 'none' }));
  expect(new URL(silent.location!).searchParams.get('error')).toBe('login_required');
}, 60_000);
