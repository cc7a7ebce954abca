import * as client from 'openid-client';
import { Agent } from './agent.ts';

/*
 * What a relying party or a browser sends Gatehouse over plain HTTP, shared by the conformance
 * tests and the tests of running processes.
 */

/** What a browser sends as Accept: Gatehouse's error pages are then pages, not JSON. */
export const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

/** An Agent that asks for pages as a browser does (BROWSER_ACCEPT), stopping at `stopAt`. */
export function browserAgent(stopAt: string): Agent {
  const agent = new Agent(stopAt);
  agent.headers.accept = BROWSER_ACCEPT;
  return agent;
}

/**
 * The discovery document of the Gatehouse listening at `base` (its issuer, or where it listens when
 * the issuer names another host). Anything but a 200 JSON answer is an error.
 */
export async function discovery<T = Record<string, unknown>>(base: string): Promise<T> {
  const response = await fetch(`${base}/.well-known/openid-configuration`);
  const type = response.headers.get('content-type') ?? '';
  if (response.status !== 200 || !type.startsWith('application/json')) {
    throw new Error(`discovery at ${base}: ${response.status} ${type}\n${await response.text()}`);
  }
  return (await response.json()) as T;
}

/** The kids of the signing keys the Gatehouse at `base` publishes, in the JWKS's order. */
export async function publishedKids(base: string): Promise<string[]> {
  const response = await fetch(`${base}/jwks`);
  if (response.status !== 200) throw new Error(`JWKS at ${base}: ${response.status}`);
  return ((await response.json()) as { keys: Array<{ kid: string }> }).keys.map((key) => key.kid);
}

/**
 * An openid-client relying party for a client registered with private_key_jwt (at /reg): it
 * authenticates at the token endpoint with an assertion signed by `key`. http allowed, for tests.
 */
export async function privateKeyJwtRelyingParty(issuer: string, clientId: string, key: client.PrivateKey): Promise<client.Configuration> {
  const discovered = await client.discovery(new URL(issuer), clientId, undefined, undefined, {
    execute: [client.allowInsecureRequests],
  });
  const rp = new client.Configuration(
    discovered.serverMetadata(),
    clientId,
    { token_endpoint_auth_method: 'private_key_jwt' },
    client.PrivateKeyJwt(key),
  );
  client.allowInsecureRequests(rp);
  return rp;
}
