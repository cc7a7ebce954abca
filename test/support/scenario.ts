import { expect } from '@jest/globals';
import * as client from 'openid-client';
import { hashPassword } from '../../src/auth/passwords.ts';
import type { RunningGatehouse } from '../../src/app.ts';
import type { Account, AccessLevel } from '../../src/db/entities/index.ts';
import type { Services } from '../../src/services.ts';
import { Agent, formAction, formField, type Page } from './agent.ts';

export const REDIRECT_URI = 'http://localhost:65010/callback';
export const PASSWORD = 'correct horse battery staple';

export async function addSchool(services: Services, name: string, postcode = 'AB1 2CD') {
  return services.schools.add({ name, postcode });
}

export async function addClient(services: Services, name: string, schoolIds: string[], extra = {}) {
  return services.clients.add({ name, schoolIds, redirectUris: [REDIRECT_URI], ...extra });
}

/** An account with a password already set (as if through the reset email). */
export async function addStaff(
  services: Services,
  email: string,
  memberships: Array<{ schoolId: string; accessLevel: AccessLevel }>,
  password: string | null = PASSWORD,
) {
  const account = await services.accounts.addUser({ email, name: 'Sam Teacher', memberships });
  if (password) await services.repositories.accounts.setPasswordHash(account.id, await hashPassword(password));
  return account;
}

export async function relyingParty(issuer: string, credentials: { clientId: string; clientSecret: string }) {
  return client.discovery(new URL(issuer), credentials.clientId, credentials.clientSecret, undefined, {
    execute: [client.allowInsecureRequests],
  });
}

export type Authorization = { url: string; verifier: string; state: string };

export async function authorizationRequest(config: client.Configuration, params: Record<string, string> = {}): Promise<Authorization> {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid email profile school',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    ...params,
  });
  return { url: url.toString(), verifier, state };
}

/** Starts an authorization and follows it to the first page shown (or back to the client). */
export async function start(agent: Agent, authorization: Authorization): Promise<Page> {
  return agent.follow(await agent.get(authorization.url));
}

export async function submitLogin(agent: Agent, loginPage: Page, email: string, password: string): Promise<Page> {
  const action = new URL(formAction(loginPage.html), loginPage.url).toString();
  return agent.post(action, { _csrf: formField(loginPage.html, '_csrf'), email, password });
}

export async function exchange(config: client.Configuration, callback: Page, authorization: Authorization) {
  return client.authorizationCodeGrant(config, new URL(callback.location!), {
    pkceCodeVerifier: authorization.verifier,
    expectedState: authorization.state,
  });
}

export { Agent };

/** On the "basic access only" offer page, choose "Continue with basic access". */
export async function continueWithBasic(agent: Agent, offer: Page): Promise<Page> {
  const action = /action="([^"]*continue-basic)"/.exec(offer.html)?.[1];
  if (!action) throw new Error(`Not the enrolment offer page:\n${offer.html}`);
  return agent.follow(await agent.post(new URL(action, offer.url).toString(), { _csrf: formField(offer.html, '_csrf') }));
}

/** Submits a code on the authenticator code page (or any page whose form has a Code field). */
export async function submitCode(agent: Agent, codePage: Page, code: string): Promise<Page> {
  const action = new URL(formAction(codePage.html), codePage.url).toString();
  return agent.post(action, { _csrf: formField(codePage.html, '_csrf'), code });
}

/** A member of the world's school with a password (PASSWORD unless given): the stored account. */
export async function staff(
  world: { services: Services; schoolId: string },
  email: string,
  accessLevel: AccessLevel = 'higher',
  password = PASSWORD,
): Promise<Account> {
  await addStaff(world.services, email, [{ schoolId: world.schoolId, accessLevel }], password);
  return (await world.services.repositories.accounts.findByEmail(email))!;
}

/** A new browser (Agent) sent by the school's system to sign in: the first page it is shown. */
export async function startAtClient(
  world: { issuer: string; credentials: { clientId: string; clientSecret: string } },
  params: Record<string, string> = {},
) {
  const rp = await relyingParty(world.issuer, world.credentials);
  const agent = new Agent(REDIRECT_URI);
  const authorization = await authorizationRequest(rp, params);
  const page = await start(agent, authorization);
  return { rp, agent, authorization, page };
}

/** The claims the school's system gets for the code it was sent back with. */
export async function claimsAt(rp: client.Configuration, callback: Page, authorization: Authorization) {
  expect(callback.location).toMatch(/^http:\/\/localhost:65010\/callback\?code=/);
  return (await exchange(rp, callback, authorization)).claims()!;
}

/** The interaction a sign-in page belongs to. */
export const uidOf = (page: Page) => /\/interaction\/([A-Za-z0-9_-]+)/.exec(page.url)![1]!;

/** A route of the page's interaction, where the page's scripts post. */
export const interactionUrl = (page: Page, path: string) => new URL(`/interaction/${uidOf(page)}/${path}`, page.url).toString();

export type AuditRow = { outcome: string; reason: string | null; detail: Record<string, unknown> | null; account_id: string | null };

/** An event's audit rows, oldest first (only `accountId`'s if given), with the columns asked for. */
export async function audits<K extends keyof AuditRow = 'outcome' | 'reason'>(
  gatehouse: Pick<RunningGatehouse, 'database'>,
  event: string,
  options: { accountId?: string; columns?: K[] } = {},
): Promise<Array<Pick<AuditRow, K>>> {
  const columns = options.columns ?? ['outcome', 'reason'];
  const forAccount = options.accountId === undefined ? '' : ' AND account_id = $2';
  return gatehouse.database.dataSource.query(
    `SELECT ${columns.join(', ')} FROM audit_events WHERE event = $1${forAccount} ORDER BY id`,
    options.accountId === undefined ? [event] : [event, options.accountId],
  );
}

/** A form post with `agent`'s cookies through fetch, for what Agent does not keep: the answer's headers. */
export function fetchFormPost(agent: Agent, url: string, form: Record<string, string>) {
  const cookie = [...agent.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  return fetch(url, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
}
