import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { exportJWK, generateKeyPair } from 'jose';
import * as client from 'openid-client';
import { operatorAuthority } from '../src/admin/authority.ts';
import { privateKeyJwtRelyingParty } from './support/oidc.ts';
import { addSchool, addStaff, Agent, authorizationRequest, exchange, PASSWORD, start, submitLogin } from './support/scenario.ts';
import { useSpawnedGatehouse } from './support/spawned.ts';

/**
 * The Dynamic OP plan's two jwks_uri modules, `oidcc-registration-jwks-uri` and
 * `oidcc-refresh-token-rp-key-rotation`: a school system registered with private_key_jwt and a
 * `jwks_uri`, which Gatehouse fetches. Gatehouse runs in its own process (its outbound guard live)
 * and trusts this test's certificate authority (NODE_EXTRA_CA_CERTS): the registration policy
 * only takes https jwks_uris. The school system's keys are served on 127.0.0.1 (allowed: ISSUER is loopback).
 */
const email = 'keys@hill.example';
const CALLBACK = 'http://localhost:65010/cb';
let schoolId: string;
let certificates: string;
/** The school system's jwks_uri: what it publishes now, and how often Gatehouse asked. */
let published: { keys: object[] } = { keys: [] };
let jwksRequests = 0;
let jwksServer: https.Server;
let jwksUri: string;

const world = useSpawnedGatehouse({
  async prepare(services) {
    schoolId = (await addSchool(services, 'Hill Primary School')).id;
    await addStaff(services, email, [{ schoolId, accessLevel: 'basic' }]);

    // A self-signed certificate for 127.0.0.1, which the spawned Gatehouse is told to trust.
    certificates = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-jwks-uri-'));
    const [key, cert] = [path.join(certificates, 'key.pem'), path.join(certificates, 'cert.pem')];
    await promisify(execFile)('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ]);
    jwksServer = https.createServer({ key: await fs.readFile(key), cert: await fs.readFile(cert) }, (_req, res) => {
      jwksRequests += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(published));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    jwksUri = `https://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`;
  },
  env: () => ({ NODE_EXTRA_CA_CERTS: path.join(certificates, 'cert.pem') }),
});

afterAll(async () => {
  await new Promise((resolve) => jwksServer?.close(resolve));
  if (certificates) await fs.rm(certificates, { recursive: true, force: true });
});

/** A key of the school system's: `key` signs its client assertions, `jwk` is what its jwks_uri publishes. */
async function keyPair(kid: string) {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  return { key: { key: privateKey, kid }, jwk: { ...(await exportJWK(publicKey)), kid, use: 'sig', alg: 'RS256' } };
}

test('oidcc-registration-jwks-uri, then oidcc-refresh-token-rp-key-rotation: Gatehouse fetches the keys; a new key is taken within a minute', async () => {
  const first = await keyPair('rp-key-1');
  published = { keys: [first.jwk] };
  const initialAccessToken = await world.services.admin.clients.issueInitialAccessToken(operatorAuthority('conformance'), 1);
  const registration = await fetch(`${world.gatehouse.url}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${initialAccessToken}` },
    body: JSON.stringify({
      client_name: 'Suite RP',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [CALLBACK],
      token_endpoint_auth_method: 'private_key_jwt',
      jwks_uri: jwksUri,
    }),
  });
  expect(registration.status).toBe(201);
  const clientId = ((await registration.json()) as { client_id: string }).client_id;
  await world.services.clients.link(clientId, [schoolId]);

  // oidcc-registration-jwks-uri: a sign-in, the code exchanged with a key Gatehouse reads from jwks_uri.
  let rp = await privateKeyJwtRelyingParty(world.gatehouse.url, clientId, first.key);
  const agent = new Agent('http://localhost:65010/');
  const authorization = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid offline_access', prompt: 'consent' });
  const callback = await agent.follow(await submitLogin(agent, await start(agent, authorization), email, PASSWORD));
  const tokens = await exchange(rp, callback, authorization);
  expect(tokens.refresh_token).toEqual(expect.any(String));
  expect(jwksRequests).toBeGreaterThanOrEqual(1);

  // oidcc-refresh-token-rp-key-rotation: the school system publishes a new key (new kid) in place of the old.
  const second = await keyPair('rp-key-2');
  published = { keys: [second.jwk] };
  rp = await privateKeyJwtRelyingParty(world.gatehouse.url, clientId, second.key);
  // Gatehouse keeps a client's key set for a minute (oidc-provider's floor), so at once the new kid is unknown…
  await expect(client.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({
    status: 401,
    cause: [expect.objectContaining({ parameters: expect.objectContaining({ error: 'invalid_client' }) })],
  });
  // …and after the minute the suite waits, it reads the jwks_uri again and the refresh succeeds.
  await new Promise((resolve) => setTimeout(resolve, 61_000));
  const refreshed = await client.refreshTokenGrant(rp, tokens.refresh_token!);
  expect(refreshed.access_token).toEqual(expect.any(String));
  expect(refreshed.claims()!.sub).toBe(tokens.claims()!.sub);
}, 120_000);
