import * as client from 'openid-client';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
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

let storage: TestStorage;
let gatehouse: TestGatehouse;
let hill: { id: string };
let hillClient: { clientId: string; clientSecret: string };

beforeAll(async () => {
  storage = await createTestStorage();
  gatehouse = await startTestGatehouse(storage);
  const { services } = gatehouse;
  hill = await addSchool(services, 'Hill Primary School');
  hillClient = await addClient(services, 'Hill MIS', [hill.id]);
  await addStaff(services, 'teacher@hill.example', [{ schoolId: hill.id, accessLevel: 'basic' }]);
});

afterAll(async () => {
  await gatehouse?.close();
  await storage?.drop();
});

/** Every column of every row of oidc_payloads, as text. */
async function everythingStored(): Promise<string> {
  const rows: Array<{ row: string }> = await gatehouse.database.dataSource.query(`SELECT t::text AS row FROM oidc_payloads t`);
  return rows.map((row) => row.row).join('\n');
}

/** The interaction id a sign-in page belongs to: it is in its URL and in the interaction cookie. */
const interactionId = (url: string) => /\/interaction\/([^/?]+)/.exec(url)![1]!;

describe('no bearer value is stored usable', () => {
  test('after sign-in, refresh, PAR, registration and client_credentials the table holds none of the values issued', async () => {
    const issued: Record<string, string> = {};

    // A full sign-in with a refresh token, then a refresh.
    const rp = await relyingParty(gatehouse.issuer, hillClient);
    const agent = new Agent(REDIRECT_URI);
    const authorization = await authorizationRequest(rp, { scope: 'openid school offline_access', prompt: 'consent' });
    const login = await start(agent, authorization);
    issued.interaction = interactionId(login.url);
    const callback = await agent.follow(await submitLogin(agent, login, 'teacher@hill.example', PASSWORD));
    issued.code = new URL(callback.location!).searchParams.get('code')!;
    const tokens = await exchange(rp, callback, authorization);
    issued.accessToken = tokens.access_token;
    issued.refreshToken = tokens.refresh_token!;
    const refreshed = await client.refreshTokenGrant(rp, tokens.refresh_token!);
    issued.refreshedAccessToken = refreshed.access_token;
    issued.refreshedRefreshToken = refreshed.refresh_token!;

    // A pushed authorization request, signed in from a fresh browser (the interaction refers to it).
    const parAgent = new Agent(REDIRECT_URI);
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const parUrl = await client.buildAuthorizationUrlWithPAR(rp, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid school',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });
    issued.pushedRequest = parUrl.searchParams.get('request_uri')!.split(':').pop()!;
    const parLogin = await parAgent.follow(await parAgent.get(parUrl.toString()));
    issued.parInteraction = interactionId(parLogin.url);
    const parCallback = await parAgent.follow(await submitLogin(parAgent, parLogin, 'teacher@hill.example', PASSWORD));
    issued.parSession = parAgent.cookies.get('_session')!;
    const parTokens = await exchange(rp, parCallback, { url: parUrl.toString(), verifier, state });
    issued.parAccessToken = parTokens.access_token;

    // Dynamic client registration: the initial access token and the registration access token.
    const { provider } = await gatehouse.services.oidc();
    issued.initialAccessToken = await new provider.InitialAccessToken({ expiresIn: 600, policies: ['school-system'] }).save();
    const created = await fetch(`${gatehouse.issuer}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${issued.initialAccessToken}` },
      body: JSON.stringify({ client_name: 'Oak Library', redirect_uris: [REDIRECT_URI] }),
    });
    expect(created.status).toBe(201);
    const registered = (await created.json()) as Record<string, string>;
    issued.registrationAccessToken = registered.registration_access_token!;

    // A machine client's access token.
    const machine = await gatehouse.services.clients.add({ name: 'Timetable sync', schoolIds: [hill.id], machine: true, redirectUris: [] });
    const machineRp = await relyingParty(gatehouse.issuer, machine);
    issued.clientCredentials = (await client.clientCredentialsGrant(machineRp)).access_token;

    // Sign-ins left half-way: an interaction that carries the session, one that carries a pushed request.
    const relogin = await start(agent, await authorizationRequest(rp, { prompt: 'login' }));
    issued.pendingInteraction = interactionId(relogin.url);
    issued.session = agent.cookies.get('_session')!;
    const pendingPar = await client.buildAuthorizationUrlWithPAR(rp, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    issued.pendingPushedRequest = pendingPar.searchParams.get('request_uri')!.split(':').pop()!;
    const pendingAgent = new Agent(REDIRECT_URI);
    const pendingParLogin = await pendingAgent.follow(await pendingAgent.get(pendingPar.toString()));
    issued.pendingParInteraction = interactionId(pendingParLogin.url);

    for (const [name, value] of Object.entries(issued)) expect({ name, value: value.length >= 16 }).toEqual({ name, value: true });
    const stored = await everythingStored();
    const found = Object.entries(issued)
      .filter(([, value]) => stored.includes(value))
      .map(([name]) => name);
    if (found.length) console.log(stored.split('\n').filter((line) => found.some((name) => line.includes(issued[name]!))));
    expect(found).toEqual([]);

    // Every value still works: lookups go by keyed hash.
    expect(await client.tokenIntrospection(rp, issued.refreshedAccessToken)).toMatchObject({ active: true });
    expect(await client.tokenIntrospection(rp, issued.parAccessToken)).toMatchObject({ active: true });
    expect(await client.tokenIntrospection(machineRp, issued.clientCredentials)).toMatchObject({ active: true });
    const userinfo = await client.fetchUserInfo(rp, issued.refreshedAccessToken, refreshed.claims()!.sub);
    expect(userinfo.sub).toBe(refreshed.claims()!.sub);
    const again = await client.refreshTokenGrant(rp, issued.refreshedRefreshToken);
    expect(again.access_token).toBeTruthy();
    const read = await fetch(registered.registration_client_uri!, {
      headers: { authorization: `Bearer ${issued.registrationAccessToken}` },
    });
    expect(read.status).toBe(200);
    expect(((await read.json()) as { client_secret: string }).client_secret).toBe(registered.client_secret);
    // What is stored is not itself a token: a stored id presented as one finds nothing.
    const [storedAccessToken] = await gatehouse.database.dataSource.query(
      `SELECT id FROM oidc_payloads WHERE model = 'AccessToken' AND payload->>'clientId' = $1 LIMIT 1`,
      [hillClient.clientId],
    );
    expect(await client.tokenIntrospection(rp, storedAccessToken.id)).toMatchObject({ active: false });
    // The session cookie still signs the person in to the next client without a password.
    const sso = await start(agent, await authorizationRequest(rp));
    expect(sso.location).toMatch(/\?code=/);
    // A pushed request is single-use, also when its sign-in went through an interaction.
    const reused = await parAgent.follow(await parAgent.get(parUrl.toString()));
    expect(reused.location ?? reused.html).toMatch(/invalid_request_uri|request_uri is invalid/);
  });
});
