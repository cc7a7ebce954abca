import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import { freePort } from './gatehouse.ts';

/**
 * A small school system for browser tests: /login starts an authorization (PKCE, state) with
 * openid-client and /callback exchanges the code and shows the validated claims.
 */
export async function startRelyingPartyApp() {
  const port = await freePort();
  const redirectUri = `http://localhost:${port}/callback`;
  const pending = new Map<string, string>();
  let config: client.Configuration | undefined;

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', `http://localhost:${port}`);
    try {
      if (url.pathname === '/login' && config) {
        const verifier = client.randomPKCECodeVerifier();
        const state = client.randomState();
        pending.set(state, verifier);
        const target = client.buildAuthorizationUrl(config, {
          redirect_uri: redirectUri,
          scope: 'openid email profile school',
          code_challenge: await client.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          state,
          // A school system may ask for a language or for higher access: /login?ui_locales=cy&acr_values=…
          ...Object.fromEntries(
            ['ui_locales', 'acr_values'].flatMap((name) => url.searchParams.getAll(name).map((value) => [name, value])),
          ),
        });
        res.writeHead(302, { location: target.toString() }).end();
      } else if (url.pathname === '/callback' && config) {
        const state = url.searchParams.get('state') ?? '';
        const verifier = pending.get(state);
        if (url.searchParams.has('error') || !verifier) {
          res.writeHead(200, { 'content-type': 'text/html' }).end(`<h1 id="error">${url.searchParams.get('error')}</h1>`);
          return;
        }
        pending.delete(state);
        const tokens = await client.authorizationCodeGrant(config, url, { pkceCodeVerifier: verifier, expectedState: state });
        const claims = tokens.claims()!;
        res
          .writeHead(200, { 'content-type': 'text/html' })
          .end(`<h1 id="welcome">Signed in</h1><pre id="claims">${JSON.stringify(claims).replace(/</g, '\\u003c')}</pre>`);
      } else {
        res.writeHead(404).end();
      }
    } catch (error) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(String(error));
    }
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://localhost:${(server.address() as AddressInfo).port}`,
    redirectUri,
    async connect(issuer: string, credentials: { clientId: string; clientSecret: string }) {
      config = await client.discovery(new URL(issuer), credentials.clientId, credentials.clientSecret, undefined, {
        execute: [client.allowInsecureRequests],
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
