import * as client from 'openid-client';
import type { Authority } from '../src/admin/authority.ts';
import { operatorAuthority } from '../src/admin/authority.ts';
import type { Services } from '../src/services.ts';
import { visibleText } from './support/agent.ts';
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

/**
 * A leaver removed from one school by the helpdesk loses that school at once, through real
 * school systems (openid-client): the refresh token and access token stop working, and the
 * still-live single sign-on session no longer signs them in there. Their other school is untouched.
 */

let storage: TestStorage;
let gatehouse: TestGatehouse;
let services: Services;
let hill: { id: string };
let oak: { id: string };
let hillClient: { clientId: string; clientSecret: string };
let oakClient: { clientId: string; clientSecret: string };
let trustClient: { clientId: string; clientSecret: string };
let helpdesk: Authority;

const OFFLINE = { scope: 'openid email profile school offline_access', prompt: 'consent' };

/** What openid-client throws when userinfo answers 401 with `WWW-Authenticate: Bearer error="invalid_token"`. */
const INVALID_TOKEN = {
  status: 401,
  cause: [expect.objectContaining({ parameters: expect.objectContaining({ error: 'invalid_token' }) })],
};

beforeAll(async () => {
  storage = await createTestStorage();
  gatehouse = await startTestGatehouse(storage);
  services = gatehouse.services;
  hill = await addSchool(services, 'Hill Primary School', 'HP1 1AA');
  oak = await addSchool(services, 'Oak Academy', 'OA2 2BB');
  hillClient = await addClient(services, 'Hill MIS', [hill.id]);
  oakClient = await addClient(services, 'Oak Library', [oak.id]);
  trustClient = await addClient(services, 'Trust MIS', [hill.id, oak.id]);
  const desk = await addStaff(services, 'desk@trust.example', [{ schoolId: hill.id, accessLevel: 'basic' }]);
  await services.admin.roles.grant(operatorAuthority('test'), { subject: { email: desk.email }, role: 'helpdesk' });
  helpdesk = await services.admin.authorityOf({ kind: 'person', accountId: desk.id, email: desk.email });
});

afterAll(async () => {
  await gatehouse?.close();
  await storage?.drop();
});

const atBoth = (email: string) =>
  addStaff(services, email, [
    { schoolId: hill.id, accessLevel: 'basic' },
    { schoolId: oak.id, accessLevel: 'basic' },
  ]);

/** Signs in at the client (with the password if the browser has no session yet); the tokens, with a refresh token. */
async function signIn(agent: Agent, rp: client.Configuration, email: string, params: Record<string, string> = {}) {
  const authorization = await authorizationRequest(rp, { ...OFFLINE, ...params });
  const first = await start(agent, authorization);
  const callback = first.location ? first : await agent.follow(await submitLogin(agent, first, email, PASSWORD));
  expect(callback.location).toContain('code=');
  const tokens = await exchange(rp, callback, authorization);
  expect(tokens.refresh_token).toEqual(expect.any(String));
  return tokens;
}

/** A silent authorization (`prompt=none`) with the browser's session: the code or the error. */
async function silently(agent: Agent, rp: client.Configuration, params: Record<string, string> = {}) {
  const authorization = await authorizationRequest(rp, { prompt: 'none', ...params });
  const answer = await start(agent, authorization);
  return { authorization, answer, params: new URL(answer.location ?? 'about:blank').searchParams };
}

test('removed from one school, with a client per school: that school is refused at once, the other still works', async () => {
  const leaver = await atBoth('leaver@trust.example');
  const agent = new Agent(REDIRECT_URI);
  const hillRp = await relyingParty(gatehouse.issuer, hillClient);
  const oakRp = await relyingParty(gatehouse.issuer, oakClient);
  const atHill = await signIn(agent, hillRp, leaver.email);
  const atOak = await signIn(agent, oakRp, leaver.email);
  expect(atHill.claims()!.school).toMatchObject({ id: hill.id });
  expect(atOak.claims()!.school).toMatchObject({ id: oak.id });
  // Both work before.
  await client.fetchUserInfo(hillRp, atHill.access_token, leaver.id);
  expect((await silently(agent, hillRp)).params.get('code')).toEqual(expect.any(String));

  const { revokedGrants } = await services.admin.staff.removeMember(helpdesk, hill.id, leaver.id);
  expect(revokedGrants).toBe(1);

  await expect(client.refreshTokenGrant(hillRp, atHill.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  await expect(client.fetchUserInfo(hillRp, atHill.access_token, leaver.id)).rejects.toMatchObject(INVALID_TOKEN);
  const refusedSilently = await silently(agent, hillRp);
  expect(refusedSilently.params.get('code')).toBeNull();
  expect(refusedSilently.params.get('error')).toBe('access_denied');
  const noAccess = await start(agent, await authorizationRequest(hillRp));
  expect(noAccess.status).toBe(403);
  expect(visibleText(noAccess.html)).toContain('Your account does not have access to Hill Primary School.');

  // Oak: the refresh token, the access token and the session all still work, silently.
  const refreshed = await client.refreshTokenGrant(oakRp, atOak.refresh_token!);
  expect(refreshed.access_token).toEqual(expect.any(String));
  const userinfo = await client.fetchUserInfo(oakRp, atOak.access_token, leaver.id);
  expect(userinfo.school).toMatchObject({ id: oak.id });
  expect((userinfo.schools as Array<{ id: string }>).map((school) => school.id)).toEqual([oak.id]);
  const silent = await silently(agent, oakRp);
  expect(silent.params.get('code')).toEqual(expect.any(String));
  expect((await exchange(oakRp, silent.answer, silent.authorization)).claims()!.school).toMatchObject({ id: oak.id });

  const removal = (await services.admin.auditTrail.list(helpdesk, { event: 'admin.member.remove', schoolId: hill.id }, {})).items[0];
  expect(removal).toMatchObject({ outcome: 'success', accountId: leaver.id, detail: { revokedGrants: 1 } });
});

test('removed from one school, with one client for both: the sign-in chosen for that school ends, the other stays', async () => {
  const leaver = await atBoth('mover@trust.example');
  const rp = await relyingParty(gatehouse.issuer, trustClient);
  // Two browsers (say, the office PC for Hill and a laptop for Oak): a grant each, a school each.
  const hillBrowser = new Agent(REDIRECT_URI);
  const oakBrowser = new Agent(REDIRECT_URI);
  const forHill = await signIn(hillBrowser, rp, leaver.email, { school: hill.id });
  const forOak = await signIn(oakBrowser, rp, leaver.email, { school: oak.id });
  expect(forHill.claims()!.school).toMatchObject({ id: hill.id });
  expect(forOak.claims()!.school).toMatchObject({ id: oak.id });

  expect(await services.admin.staff.removeMember(helpdesk, hill.id, leaver.id)).toEqual({ revokedGrants: 1, revokedRole: false });

  await expect(client.refreshTokenGrant(rp, forHill.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  await expect(client.fetchUserInfo(rp, forHill.access_token, leaver.id)).rejects.toMatchObject(INVALID_TOKEN);
  const refreshed = await client.refreshTokenGrant(rp, forOak.refresh_token!);
  expect(refreshed.claims()!.school).toMatchObject({ id: oak.id });
  expect((await client.fetchUserInfo(rp, refreshed.access_token, leaver.id)).school).toMatchObject({ id: oak.id });

  // Asking for Hill again from the Hill browser: never Hill any more, only the school still held.
  const again = await silently(hillBrowser, rp, { school: hill.id });
  expect(again.params.get('code')).toEqual(expect.any(String));
  const claims = (await exchange(rp, again.answer, again.authorization)).claims()!;
  expect(claims.school).toMatchObject({ id: oak.id });
  expect((claims.schools as Array<{ id: string }>).map((school) => school.id)).toEqual([oak.id]);
});

test('removed from their only school at the client, a leaver at the shared client is refused there too', async () => {
  const leaver = await addStaff(services, 'gone@hill.example', [{ schoolId: hill.id, accessLevel: 'basic' }]);
  const rp = await relyingParty(gatehouse.issuer, trustClient);
  const agent = new Agent(REDIRECT_URI);
  const tokens = await signIn(agent, rp, leaver.email);
  expect(tokens.claims()!.school).toMatchObject({ id: hill.id });

  expect(await services.admin.staff.removeMember(helpdesk, hill.id, leaver.id)).toEqual({ revokedGrants: 1, revokedRole: false });
  await expect(client.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  expect((await silently(agent, rp)).params.get('error')).toBe('access_denied');
});
