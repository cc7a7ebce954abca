import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { exportJWK, generateKeyPair } from 'jose';
import * as client from 'openid-client';
import pino from 'pino';
import { operatorAuthority } from '../src/admin/authority.ts';
import { loadConfig } from '../src/config/index.ts';
import { openDatabase, type Database } from '../src/db/database.ts';
import { createServices, type Services } from '../src/services.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { freePort } from './support/gatehouse.ts';
import { spawnGatehouse } from './support/process.ts';
import { addSchool, addStaff, Agent, authorizationRequest, PASSWORD, start, submitLogin } from './support/scenario.ts';

/**
 * The Dynamic OP plan's two jwks_uri modules, `oidcc-registration-jwks-uri` and
 * `oidcc-refresh-token-rp-key-rotation`: a school system registered with private_key_jwt and a
 * `jwks_uri`, which Gatehouse fetches. Gatehouse runs in its own process (its outbound guard live)
 * and trusts this test's certificate authority (NODE_EXTRA_CA_CERTS): the registration policy
 * only takes https jwks_uris. The school system's keys are served on 127.0.0.1 (allowed: ISSUER is loopback).
 */
const email = 'keys@hill.example';
const CALLBACK = 'http://localhost:65010/cb';
let storage: TestStorage;
let database: Database;
let services: Services;
let schoolId: string;
let gatehouse: Awaited<ReturnType<typeof spawnGatehouse>>;
let certificates: string;
/** The school system's jwks_uri: what it publishes now, and how often Gatehouse asked. */
let published: { keys: object[] } = { keys: [] };
let jwksRequests = 0;
let jwksServer: https.Server;
let jwksUri: string;

beforeAll(async () => {
  storage = await createTestStorage();
  database = await openDatabase({ databaseUrl: storage.databaseUrl, dataDir: storage.dataDir });
  await database.migrate();
  const config = loadConfig({ DATA_DIR: storage.dataDir, ...(storage.databaseUrl ? { DATABASE_URL: storage.databaseUrl } : {}) });
  services = await createServices(database, config, pino({ level: 'silent' }));
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
  gatehouse = await spawnGatehouse(storage, await freePort(), { NODE_EXTRA_CA_CERTS: cert });
}, 60_000);

afterAll(async () => {
  expect(await gatehouse?.stop()).toBe(0);
  await new Promise((resolve) => jwksServer?.close(resolve));
  services?.mailer.close();
  await database?.close();
  await storage?.drop();
  if (certificates) await fs.rm(certificates, { recursive: true, force: true });
});

async function keyPair(kid: string) {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, use: 'sig', alg: 'RS256' } };
}

/** An openid-client relying party for the registered client, authenticating with `key`. */
async function relyingPartyWith(clientId: string, key: Awaited<ReturnType<typeof keyPair>>) {
  const discovered = await client.discovery(new URL(gatehouse.url), clientId, undefined, undefined, {
    execute: [client.allowInsecureRequests],
  });
  const rp = new client.Configuration(
    discovered.serverMetadata(),
    clientId,
    { token_endpoint_auth_method: 'private_key_jwt' },
    client.PrivateKeyJwt({ key: key.privateKey, kid: key.kid }),
  );
  client.allowInsecureRequests(rp);
  return rp;
}

test('oidcc-registration-jwks-uri, then oidcc-refresh-token-rp-key-rotation: Gatehouse fetches the keys; a new key is taken within a minute', async () => {
  const first = await keyPair('rp-key-1');
  published = { keys: [first.jwk] };
  const initialAccessToken = await services.admin.clients.issueInitialAccessToken(operatorAuthority('conformance'), 1);
  const registration = await fetch(`${gatehouse.url}/reg`, {
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
  await services.clients.link(clientId, [schoolId]);

  // oidcc-registration-jwks-uri: a sign-in, the code exchanged with a key Gatehouse reads from jwks_uri.
  let rp = await relyingPartyWith(clientId, first);
  const agent = new Agent('http://localhost:65010/');
  const authorization = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid offline_access', prompt: 'consent' });
  const callback = await agent.follow(await submitLogin(agent, await start(agent, authorization), email, PASSWORD));
  const tokens = await client.authorizationCodeGrant(rp, new URL(callback.location!), {
    pkceCodeVerifier: authorization.verifier,
    expectedState: authorization.state,
  });
  expect(tokens.refresh_token).toEqual(expect.any(String));
  expect(jwksRequests).toBeGreaterThanOrEqual(1);

  // oidcc-refresh-token-rp-key-rotation: the school system publishes a new key (new kid) in place of the old.
  const second = await keyPair('rp-key-2');
  published = { keys: [second.jwk] };
  rp = await relyingPartyWith(clientId, second);
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
