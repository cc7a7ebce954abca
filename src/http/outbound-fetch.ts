import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net, { type LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { normaliseHost, type DestinationPolicy } from '../domain/outbound-destinations.ts';

/** A destination the outbound policy refuses (see OUTBOUND_ALLOW). */
export class OutboundRefusedError extends Error {
  override name = 'OutboundRefusedError';
}

const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);
const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * A fetch() for every server-to-server call, given to oidc-provider as its `fetch` hook. It uses
 * node:http on a fresh connection per request, and judges the address at connect time: an IP in
 * the URL directly, a name through the DNS answer the socket then connects to (so a name that
 * re-resolves to a private address, DNS rebinding, is refused too). Redirects are never followed.
 * It replaces the library's own guard, which cannot express OUTBOUND_ALLOW and does not start
 * inside Jest's VM modules; this one behaves the same in tests and in production.
 */
export function createOutboundFetch(policy: DestinationPolicy, logger: Logger, resolve: typeof dns.lookup = dns.lookup) {
  return async function outboundFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
    const url = new URL(input instanceof Request ? input.url : input);
    try {
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new OutboundRefusedError(`${url.protocol} URLs are not fetched`);
      const host = normaliseHost(url.hostname);
      if (net.isIP(host)) refuseUnlessAllowed(policy, host, host);
      return await send(url, init, guardedLookup(policy, host, resolve));
    } catch (error) {
      if (error instanceof OutboundRefusedError) logger.warn({ destination: url.origin, reason: error.message }, 'outbound call refused');
      throw error;
    }
  };
}

function refuseUnlessAllowed(policy: DestinationPolicy, host: string, address: string): void {
  const verdict = policy.check(host, address);
  if (!verdict.allowed) throw new OutboundRefusedError(verdict.reason);
}

/** DNS as usual, then every address of the answer must pass the policy before connecting. */
function guardedLookup(policy: DestinationPolicy, host: string, resolve: typeof dns.lookup): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      try {
        for (const { address } of addresses) refuseUnlessAllowed(policy, host, address);
      } catch (refusal) {
        return callback(refusal as NodeJS.ErrnoException, '', 0);
      }
      if (options.all) return (callback as unknown as (e: null, all: dns.LookupAddress[]) => void)(null, addresses);
      const [first] = addresses;
      return callback(null, first!.address, first!.family);
    });
  };
}

function send(url: URL, init: RequestInit, lookup: LookupFunction): Promise<Response> {
  const method = (init.method ?? 'GET').toUpperCase();
  const body = requestBody(init.body);
  const headers: Record<string, string> = {};
  // oidc-provider blanks user-agent to drop fetch's default: an empty header is not sent at all.
  for (const [name, value] of new Headers(init.headers)) if (value !== '') headers[name] = value;
  if (body) headers['content-length'] = String(body.length);
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise<Response>((resolve, reject) => {
    const request = transport.request(
      url,
      // oidc-provider passes a 2.5 s signal; any other caller gets a bound all the same.
      { method, headers, lookup, agent: false, signal: init.signal ?? AbortSignal.timeout(DEFAULT_TIMEOUT_MS) },
      (response) => {
        try {
          const status = response.statusCode ?? 0;
          const responseHeaders = new Headers();
          const raw = response.rawHeaders;
          for (let i = 0; i + 1 < raw.length; i += 2) responseHeaders.append(raw[i]!, raw[i + 1]!);
          const empty = NULL_BODY_STATUSES.has(status) || method === 'HEAD';
          if (empty) response.resume();
          const stream = empty ? null : (Readable.toWeb(response) as ReadableStream<Uint8Array>);
          resolve(new Response(stream, { status, statusText: response.statusMessage ?? '', headers: responseHeaders }));
        } catch (error) {
          response.destroy();
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      },
    );
    request.once('error', reject);
    request.end(body);
  });
}

function requestBody(body: RequestInit['body']): Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string' || body instanceof URLSearchParams) return Buffer.from(body.toString());
  if (body instanceof Uint8Array) return Buffer.from(body);
  throw new TypeError('outbound fetch: unsupported body type');
}
