/**
 * The yardstick for the token endpoint: oidc-provider with nothing of Gatehouse around it — its
 * default in-memory adapter, one RSA key, one client_credentials client. Run as a child process by
 * bench/run.ts with PORT, BENCH_CLIENT_ID and BENCH_CLIENT_SECRET.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import Provider, { type JWK } from 'oidc-provider';

const port = Number(process.env.PORT);
const signingKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const provider = new Provider(`http://localhost:${port}`, {
  clients: [
    {
      client_id: String(process.env.BENCH_CLIENT_ID),
      client_secret: String(process.env.BENCH_CLIENT_SECRET),
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
    },
  ],
  features: { clientCredentials: { enabled: true }, devInteractions: { enabled: false } },
  jwks: { keys: [{ ...signingKey, kid: 'bench', use: 'sig', alg: 'RS256' } as JWK] },
  // Gatehouse's access token lifetime (ACCESS_TOKEN_TTL_MINUTES, 10).
  ttl: { ClientCredentials: 600 },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
});

const server = http.createServer(provider.callback());
server.listen(port);
// Nothing to save: the in-memory adapter's tokens go with the process.
process.on('SIGTERM', () => process.exit(0));
