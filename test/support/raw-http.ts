import http from 'node:http';
import { Agent, type Page } from './agent.ts';

export type RawResponse = { status: number; headers: http.IncomingHttpHeaders; body: string };

/**
 * An HTTP request exactly as written: Node's fetch drops `Host` (and other forbidden headers), so
 * tests about Host or X-Forwarded-Host use this. `path` may be absolute-form (`http://x/y`).
 */
export function rawRequest(
  origin: string,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: string | Buffer; agent?: http.Agent },
): Promise<RawResponse> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const request = http.request(
      { hostname, port, method: options.method ?? 'GET', path: options.path, headers: options.headers, agent: options.agent ?? false },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

/** The test browser, sending extra headers (a hostile Host, say) on every request it makes. */
export class RawAgent extends Agent {
  readonly locations: string[] = [];
  private readonly extraHeaders: Record<string, string>;

  constructor(stopAt: string, extraHeaders: Record<string, string>) {
    super(stopAt);
    this.extraHeaders = extraHeaders;
  }

  override async send(url: string, init: RequestInit): Promise<Page> {
    const target = new URL(url);
    const cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    const response = await rawRequest(target.origin, {
      method: init.method ?? 'GET',
      path: `${target.pathname}${target.search}`,
      headers: { ...(init.headers as Record<string, string>), ...(cookie ? { cookie } : {}), ...this.extraHeaders },
      ...(typeof init.body === 'string' ? { body: init.body } : {}),
    });
    for (const header of [response.headers['set-cookie'] ?? []].flat()) this.store(header);
    const location = response.headers.location ?? null;
    if (location) this.locations.push(location);
    return { status: response.status, url, html: response.body, location: location ? new URL(location, url).toString() : null };
  }
}
