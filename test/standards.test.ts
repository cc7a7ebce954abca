import * as client from 'openid-client';
import { ACCOUNT_CLIENT_ID } from '../src/oidc/policy.ts';
import { type Page, visibleText } from './support/agent.ts';
import { useGatehouse } from './support/fixture.ts';
import {
  Agent,
  addClient,
  addSchool,
  addStaff,
  authorizationRequest,
  exchange,
  PASSWORD,
  REDIRECT_URI,
  relyingParty,
  staff,
  start,
  startAtClient,
  submitLogin,
} from './support/scenario.ts';

/**
 * What OpenID Certification and common relying parties need that the rest of the suite does not
 * show: POST at the front-channel endpoints, claims placed where the `claims` parameter asked,
 * the client authentication methods discovery promises, and school claims flat enough for any RP.
 */
const world = useGatehouse();

/** A signed-in Agent (a session at Gatehouse) for a member of the world's school. */
async function signedIn(email: string) {
  await staff(world, email, 'basic');
  const { agent, page } = await startAtClient(world);
  const callback = await agent.follow(await submitLogin(agent, page, email, PASSWORD));
  expect(callback.location).toMatch(/\?code=/);
  return agent;
}

/** An authorization request's parameters, as a form a relying party would post instead. */
const formOf = (url: string) => Object.fromEntries(new URL(url).searchParams);

/** The hidden fields of a relay page, in order. */
const hiddenFields = (html: string) =>
  [...html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)].map(([, name, value]) => [
    name,
    value!
      .replace(/&quot;/g, '"')
      .replace(/&#x3D;/g, '=')
      .replace(/&amp;/g, '&'),
  ]);

function postFrom(agent: Agent, site: string | null, url: string, form: Record<string, string>): Promise<Page> {
  return agent.send(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(site ? { 'sec-fetch-site': site } : {}) },
    body: new URLSearchParams(form).toString(),
  });
}

describe('POST at the authorization endpoint (Core §3.1.2.1) and the logout endpoint (RP-Initiated Logout §2)', () => {
  test('a POST that carries the session cookie signs in as the GET does: single sign-on, a code, a valid ID token', async () => {
    const agent = await signedIn('post.same@hill.example');
    const rp = await relyingParty(world.issuer, world.credentials);
    const authorization = await authorizationRequest(rp);
    const answer = await postFrom(agent, 'same-origin', `${world.issuer}/auth`, formOf(authorization.url));
    expect(answer.status).toBe(303);
    expect(answer.location).toMatch(new RegExp(`^${REDIRECT_URI}\\?code=`));
    const claims = (await exchange(rp, answer, authorization)).claims()!;
    expect(claims.email).toBe('post.same@hill.example');
  });

  test('a POST from another site is relayed once from Gatehouse’s own page: nothing stored, nothing in a URL', async () => {
    const agent = await signedIn('post.cross@hill.example');
    const rp = await relyingParty(world.issuer, world.credentials);
    const authorization = await authorizationRequest(rp, { login_hint: 'post.cross@hill.example' });
    const form = formOf(authorization.url);
    const relay = await postFrom(agent, 'cross-site', `${world.issuer}/auth`, form);
    expect(relay.status).toBe(200);
    expect(relay.location).toBeNull();
    expect(relay.html).toContain(`action="${world.issuer}/auth"`);
    expect(hiddenFields(relay.html)).toEqual([...Object.entries(form), ['gatehouse_relayed', '1']]);
    expect(visibleText(relay.html)).toContain('If nothing happens, select Continue.');
    const headers = await fetch(`${world.issuer}/auth`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'cross-site' },
      body: new URLSearchParams(form).toString(),
    });
    expect(headers.headers.get('cache-control')).toBe('no-store');
    expect(headers.headers.getSetCookie()).toEqual([]);

    // The browser posts the page on from Gatehouse's origin, with the session cookie: straight back with a code.
    const relayed = await postFrom(agent, 'same-origin', `${world.issuer}/auth`, Object.fromEntries(hiddenFields(relay.html)));
    expect(relayed.status).toBe(303);
    expect((await exchange(rp, relayed, authorization)).claims()!.email).toBe('post.cross@hill.example');
  });

  test('a browser that sends no Fetch Metadata is relayed, and the relayed POST is not relayed again', async () => {
    const agent = await signedIn('post.old@hill.example');
    const rp = await relyingParty(world.issuer, world.credentials);
    const authorization = await authorizationRequest(rp);
    const relay = await postFrom(agent, null, `${world.issuer}/auth`, formOf(authorization.url));
    expect(hiddenFields(relay.html)).toContainEqual(['gatehouse_relayed', '1']);
    const relayed = await postFrom(agent, null, `${world.issuer}/auth`, Object.fromEntries(hiddenFields(relay.html)));
    expect(relayed.status).toBe(303);
    expect(relayed.location).toMatch(/\?code=/);
  });

  test('a POST with no session goes to the sign-in page like the GET', async () => {
    const rp = await relyingParty(world.issuer, world.credentials);
    const authorization = await authorizationRequest(rp);
    const agent = new Agent(REDIRECT_URI);
    const first = await postFrom(agent, 'same-origin', `${world.issuer}/auth`, { ...formOf(authorization.url), gatehouse_relayed: '1' });
    expect(first.status).toBe(303);
    const login = await agent.follow(first);
    expect(visibleText(login.html)).toContain('Hill Primary School Single Sign-On');
    await staff(world, 'post.fresh@hill.example', 'basic');
    const callback = await agent.follow(await submitLogin(agent, login, 'post.fresh@hill.example', PASSWORD));
    expect((await exchange(rp, callback, authorization)).claims()!.email).toBe('post.fresh@hill.example');
  });

  test('bad POSTs get a 4xx in words, never a 5xx', async () => {
    const rp = await relyingParty(world.issuer, world.credentials);
    const { url } = await authorizationRequest(rp);
    const form = new URLSearchParams(formOf(url));
    const post = (body: string | Buffer, headers: Record<string, string>) =>
      fetch(`${world.issuer}/auth`, {
        method: 'POST',
        headers: { accept: 'text/html', 'sec-fetch-site': 'same-origin', ...headers },
        body,
        redirect: 'manual',
      });
    const formType = { 'content-type': 'application/x-www-form-urlencoded' };
    const tooBig = await post(`${form}&login_hint=${'a'.repeat(70_000)}`, formType);
    expect(tooBig.status).toBe(413);
    const compressed = await post(form.toString(), { ...formType, 'content-encoding': 'gzip' });
    expect(compressed.status).toBe(415);
    // A repeated parameter is refused as the GET's is: back to the (registered) redirect URI with invalid_request.
    const repeated = await post(`${form}&scope=openid`, formType);
    expect(repeated.status).toBe(303);
    const refusal = new URL(repeated.headers.get('location')!);
    expect(`${refusal.origin}${refusal.pathname}`).toBe(REDIRECT_URI);
    expect(refusal.searchParams.get('error')).toBe('invalid_request');
    expect(refusal.searchParams.get('error_description')).toMatch(/scope/);
    const json = await post(JSON.stringify(formOf(url)), { 'content-type': 'application/json' });
    expect(json.status).toBe(415);
    expect(visibleText(await json.text())).toContain('We could not read that request');
  });

  test('more than 100 parameters is refused at once in words, by POST or GET (koa parses them in quadratic time)', async () => {
    const rp = await relyingParty(world.issuer, world.credentials);
    const form = new URLSearchParams(formOf((await authorizationRequest(rp)).url));
    const extra = (count: number) => Array.from({ length: count - form.size }, (_, i) => `x${i}=1`).join('&');
    for (const body of [`${form}&${'a&'.repeat(30_000)}`, `${form}&${extra(101)}`]) {
      for (const site of ['same-origin', 'cross-site']) {
        const started = performance.now();
        const refused = await fetch(`${world.issuer}/auth`, {
          method: 'POST',
          headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': site },
          body,
        });
        expect(refused.status).toBe(400);
        expect(visibleText(await refused.text())).toContain('This sign-in request cannot be read');
        // Unguarded, 30,000 took 20 s.
        expect(performance.now() - started).toBeLessThan(5000);
      }
    }
    expect((await fetch(`${world.issuer}/session/end?${'a&'.repeat(4000)}`, { headers: { accept: 'text/html' } })).status).toBe(400);
    expect((await fetch(`${world.issuer}/auth?${form}&${extra(101)}`, { headers: { accept: 'text/html' } })).status).toBe(400);
    // A hundred parameters are still an authorization request.
    expect((await fetch(`${world.issuer}/auth?${form}&${extra(100)}`, { redirect: 'manual' })).status).toBe(303);
  });

  test('a claims request over 4 kB is invalid_request however it arrives: GET, POST or pushed (PAR)', async () => {
    const rp = await relyingParty(world.issuer, world.credentials);
    const form = new URLSearchParams(formOf((await authorizationRequest(rp)).url));
    // Nested 5,000 deep, it overflowed the stack when the code was stored: a 500.
    const deep = `{"userinfo":{"email":{"value":${'['.repeat(2100)}${']'.repeat(2100)}}}}`;
    form.set('claims', deep);
    const refusedTo = (answer: Response) => {
      expect(answer.status).toBe(303);
      const location = new URL(answer.headers.get('location')!);
      expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
      expect(location.searchParams.get('error')).toBe('invalid_request');
      expect(location.searchParams.get('error_description')).toContain('claims');
    };
    const post = await fetch(`${world.issuer}/auth`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin' },
      body: form.toString(),
      redirect: 'manual',
    });
    refusedTo(post);
    const shorter = new URLSearchParams(form);
    shorter.set('claims', `{"userinfo":{"email":{"value":"${'x'.repeat(4100)}"}}}`);
    refusedTo(await fetch(`${world.issuer}/auth?${shorter}`, { redirect: 'manual' }));
    const basic = `Basic ${Buffer.from(`${world.credentials.clientId}:${world.credentials.clientSecret}`).toString('base64')}`;
    const pushed = await fetch(`${world.issuer}/request`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
      body: form.toString(),
    });
    expect(pushed.status).toBe(400);
    expect(await pushed.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining('claims') });
  });

  test('a relayed POST that still comes from another site (an opaque origin) is refused, not relayed again', async () => {
    const rp = await relyingParty(world.issuer, world.credentials);
    const agent = new Agent(REDIRECT_URI);
    const again = await postFrom(agent, 'cross-site', `${world.issuer}/auth`, {
      ...formOf((await authorizationRequest(rp)).url),
      gatehouse_relayed: '1',
    });
    expect(again.status).toBe(400);
    expect(visibleText(again.html)).toContain('This sign-in request cannot be read');
  });

  test('the relayed POST may be the 64 kB the first one was, plus the marker', async () => {
    const rp = await relyingParty(world.issuer, world.credentials);
    const form = new URLSearchParams(formOf((await authorizationRequest(rp)).url));
    const body = `${form}&login_hint=${'a'.repeat(64 * 1024 - form.toString().length - 12)}`;
    expect(body.length).toBe(64 * 1024);
    const send = (text: string, site: string) =>
      fetch(`${world.issuer}/auth`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': site },
        body: text,
        redirect: 'manual',
      });
    expect((await send(body, 'cross-site')).status).toBe(200);
    expect((await send(`${body}&gatehouse_relayed=1`, 'same-origin')).status).toBe(303);
    expect((await send(`${body}a`, 'cross-site')).status).toBe(413);
  });

  test('POST at /session/end: with the session cookie the logout confirmation; from another site, the relay', async () => {
    const agent = await signedIn('post.logout@hill.example');
    const confirm = await postFrom(agent, 'same-origin', `${world.issuer}/session/end`, { client_id: world.credentials.clientId });
    expect(confirm.status).toBe(200);
    expect(confirm.html).toContain(`${world.issuer}/session/end/confirm`);
    expect(visibleText(confirm.html)).toContain('Hill MIS');
    const relay = await postFrom(agent, 'cross-site', `${world.issuer}/session/end`, { client_id: world.credentials.clientId });
    expect(relay.html).toContain(`action="${world.issuer}/session/end"`);
    expect(hiddenFields(relay.html)).toEqual([
      ['client_id', world.credentials.clientId],
      ['gatehouse_relayed', '1'],
    ]);
  });
});

describe('claims where they were asked for (Core §5.5)', () => {
  async function tokensFor(email: string, params: Record<string, string>) {
    await staff(world, email, 'basic');
    const { rp, agent, authorization, page } = await startAtClient(world, params);
    const callback = await agent.follow(await submitLogin(agent, page, email, PASSWORD));
    const tokens = await exchange(rp, callback, authorization);
    return { rp, tokens, claims: tokens.claims()! };
  }

  test('a claim asked for at userinfo only is left out of the ID token, and given at userinfo', async () => {
    const claims = JSON.stringify({ userinfo: { name: { essential: true }, school_id: null } });
    const { rp, tokens, claims: idToken } = await tokensFor('claims.userinfo@hill.example', { claims, scope: 'openid profile school' });
    expect(idToken).not.toHaveProperty('name');
    expect(idToken).not.toHaveProperty('school_id');
    expect(idToken.school).toEqual(expect.objectContaining({ id: world.schoolId }));
    const userinfo = await client.fetchUserInfo(rp, tokens.access_token, idToken.sub);
    expect(userinfo).toMatchObject({ name: 'Sam Teacher', school_id: world.schoolId });
  });

  test('a claim asked for in both places, or by scope alone, is in the ID token', async () => {
    const both = JSON.stringify({ id_token: { name: null }, userinfo: { name: null } });
    expect((await tokensFor('claims.both@hill.example', { claims: both })).claims.name).toBe('Sam Teacher');
    expect((await tokensFor('claims.scope@hill.example', {})).claims.name).toBe('Sam Teacher');
  });

  test('the ID token of a refresh keeps to the same request', async () => {
    const claims = JSON.stringify({ userinfo: { email: null } });
    const {
      rp,
      tokens,
      claims: first,
    } = await tokensFor('claims.refresh@hill.example', {
      claims,
      scope: 'openid email school offline_access',
      prompt: 'consent',
    });
    expect(first).not.toHaveProperty('email');
    const refreshed = await client.refreshTokenGrant(rp, tokens.refresh_token!);
    expect(refreshed.claims()).not.toHaveProperty('email');
    expect(refreshed.claims()!.school_id).toBe(world.schoolId);
  });
});

describe('client authentication methods', () => {
  const METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'];

  test('discovery offers exactly what a school system may register: no `none`, no client_secret_jwt', async () => {
    const metadata = (await (await fetch(`${world.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    // Introspection and revocation take the same methods (oidc-provider publishes one list).
    expect(metadata.token_endpoint_auth_methods_supported).toEqual(METHODS);
  });

  test('registration refuses the methods discovery does not offer', async () => {
    const { provider } = await world.services.oidc();
    const iat = await new provider.InitialAccessToken({ expiresIn: 600, policies: ['school-system'] }).save();
    for (const method of ['none', 'client_secret_jwt']) {
      const refused = await fetch(`${world.issuer}/reg`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${iat}` },
        body: JSON.stringify({ client_name: 'Oak Library', redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: method }),
      });
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as { error: string }).error).toBe('invalid_client_metadata');
    }
  });

  test('a client registered for client_secret_post authenticates with its secret in the body', async () => {
    const school = await addSchool(world.services, 'Post Primary', 'PP1 1PP');
    const credentials = await addClient(world.services, 'Post MIS', [school.id], { tokenEndpointAuthMethod: 'client_secret_post' });
    await addStaff(world.services, 'post.method@hill.example', [{ schoolId: school.id, accessLevel: 'basic' }]);
    const metadata = { client_id: credentials.clientId, token_endpoint_auth_method: 'client_secret_post' };
    const rp = new client.Configuration(
      (await relyingParty(world.issuer, credentials)).serverMetadata(),
      credentials.clientId,
      metadata,
      client.ClientSecretPost(credentials.clientSecret),
    );
    client.allowInsecureRequests(rp);
    const agent = new Agent(REDIRECT_URI);
    const authorization = await authorizationRequest(rp);
    const callback = await agent.follow(await submitLogin(agent, await start(agent, authorization), 'post.method@hill.example', PASSWORD));
    expect(await world.services.repositories.clients.find(credentials.clientId)).toMatchObject({
      tokenEndpointAuthMethod: 'client_secret_post',
    });
    expect((await exchange(rp, callback, authorization)).claims()!.email).toBe('post.method@hill.example');
  });

  test('Account settings’ own client cannot use the token endpoint', async () => {
    for (const body of [`client_id=${ACCOUNT_CLIENT_ID}&grant_type=client_credentials`, 'grant_type=client_credentials']) {
      const answer = await fetch(`${world.issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          ...(body.startsWith('client_id') ? {} : { authorization: `Basic ${Buffer.from(`${ACCOUNT_CLIENT_ID}:`).toString('base64')}` }),
        },
        body,
      });
      expect(answer.status).toBe(401);
      expect(((await answer.json()) as { error: string }).error).toBe('invalid_client');
    }
  });
});

describe('flat school claims', () => {
  test('discovery lists them beside the structured ones', async () => {
    const metadata = (await (await fetch(`${world.issuer}/.well-known/openid-configuration`)).json()) as { claims_supported: string[] };
    expect(metadata.claims_supported).toEqual(
      expect.arrayContaining(['school', 'schools', 'access_level', 'school_id', 'school_name', 'school_ids']),
    );
  });

  test('the ID token and userinfo carry the school of the sign-in and every school as plain strings', async () => {
    const other = await addSchool(world.services, 'Brook Academy', 'BA1 1BA');
    await addStaff(world.services, 'flat@hill.example', [
      { schoolId: world.schoolId, accessLevel: 'basic' },
      { schoolId: other.id, accessLevel: 'basic' },
    ]);
    const { rp, agent, authorization, page } = await startAtClient(world);
    const callback = await agent.follow(await submitLogin(agent, page, 'flat@hill.example', PASSWORD));
    const tokens = await exchange(rp, callback, authorization);
    const claims = tokens.claims()!;
    expect(claims.school_id).toBe(world.schoolId);
    expect(claims.school_name).toBe('Hill Primary School');
    expect([...(claims.school_ids as string[])].sort()).toEqual([world.schoolId, other.id].sort());
    expect(claims.school_ids).toEqual((claims.schools as Array<{ id: string }>).map(({ id }) => id));
    const userinfo = await client.fetchUserInfo(rp, tokens.access_token, claims.sub);
    expect(userinfo).toMatchObject({ school_id: world.schoolId, school_name: 'Hill Primary School', school_ids: claims.school_ids });
  });
});

describe('PKCE for every client, optional only where the helpdesk said so (the conformance suite’s clients)', () => {
  /** An authorization request with no PKCE at all, as the OpenID conformance suite sends. */
  function withoutPkce(clientId: string, params: Record<string, string>) {
    const query = {
      client_id: clientId,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      scope: 'openid school',
      state: 's1',
      ...params,
    };
    return `${world.issuer}/auth?${new URLSearchParams(query)}`;
  }
  const refusal = (page: Page) => {
    const location = new URL(page.location!);
    return [location.searchParams.get('error'), location.searchParams.get('error_description')];
  };

  test('a client registered with `--pkce optional` signs in without PKCE, with a nonce or without one', async () => {
    const school = await addSchool(world.services, 'Suite Primary', 'SP1 1SP');
    const credentials = await addClient(world.services, 'Suite client', [school.id], { pkceOptional: true });
    await addStaff(world.services, 'suite@hill.example', [{ schoolId: school.id, accessLevel: 'basic' }]);
    const agent = new Agent(REDIRECT_URI);
    const requests: Array<Record<string, string>> = [{ nonce: 'n-0S6_WzA2Mj' }, {}];
    for (const nonce of requests) {
      const first = await agent.follow(await agent.get(withoutPkce(credentials.clientId, nonce)));
      const callback = first.location ? first : await agent.follow(await submitLogin(agent, first, 'suite@hill.example', PASSWORD));
      const code = new URL(callback.location!).searchParams.get('code')!;
      const token = await fetch(`${world.issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${credentials.clientId}:${credentials.clientSecret}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI }),
      });
      expect(token.status).toBe(200);
      const { id_token: idToken } = (await token.json()) as { id_token: string };
      const claims = JSON.parse(Buffer.from(idToken.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
      expect(claims.nonce).toBe(nonce.nonce);
    }
  });

  test('every other client needs PKCE, nonce or not', async () => {
    const requests: Array<Record<string, string>> = [{ nonce: 'n-1' }, {}];
    for (const params of requests) {
      const page = await new Agent(REDIRECT_URI).get(withoutPkce(world.credentials.clientId, params));
      expect(refusal(page)).toEqual(['invalid_request', expect.stringContaining('PKCE')]);
    }
  });

  test('a registrant cannot give itself the choice at /reg', async () => {
    const { provider } = await world.services.oidc();
    const iat = await new provider.InitialAccessToken({ expiresIn: 600, policies: ['school-system'] }).save();
    const refused = await fetch(`${world.issuer}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${iat}` },
      body: JSON.stringify({ client_name: 'Oak Library', redirect_uris: [REDIRECT_URI], pkce_optional: true }),
    });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({
      error: 'invalid_client_metadata',
      error_description: expect.stringContaining('pkce_optional'),
    });
  });
});
