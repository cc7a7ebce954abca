import autocannon from 'autocannon';
import type { Credentials } from './gatehouse.ts';

export type TokenLoad = {
  requestsPerSecond: number;
  requests: number;
  latencyMs: { p50: number; p90: number; p99: number };
  /** Responses other than 2xx, by status code: any of them makes the run worthless. */
  non2xx: number;
  statusCodes: Record<string, number>;
  /** Connection errors, timeouts included. */
  errors: number;
  timeouts: number;
};

export type TokenLoadOptions = { connections: number; durationSeconds: number; warmupSeconds: number };

/** POST /token grant_type=client_credentials with HTTP Basic, as fast as `connections` connections allow. */
export async function clientCredentialsLoad(origin: string, client: Credentials, options: TokenLoadOptions): Promise<TokenLoad> {
  const request = {
    url: `${origin}/token`,
    method: 'POST' as const,
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuthorization(client) },
    body: 'grant_type=client_credentials',
    connections: options.connections,
    timeout: 10,
  };
  // The first requests pay for JIT compilation, pool connections and caches: not counted.
  await autocannon({ ...request, duration: options.warmupSeconds });
  const result = await autocannon({ ...request, duration: options.durationSeconds });
  const statusCodes = Object.fromEntries(
    Object.entries((result as unknown as { statusCodeStats: Record<string, { count: number }> }).statusCodeStats ?? {}).map(
      ([code, { count }]) => [code, count],
    ),
  );
  return {
    requestsPerSecond: result.requests.total / result.duration,
    requests: result.requests.total,
    latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99 },
    non2xx: result.non2xx,
    statusCodes,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}

/** RFC 6749 §2.3.1: id and secret form-encoded, then base64. */
export function basicAuthorization({ clientId, clientSecret }: Credentials): string {
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString('base64')}`;
}
