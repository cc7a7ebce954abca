import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Arrival = { at: number; logoutToken: string };

/**
 * A school system's back-channel logout endpoint on 127.0.0.1: records every POST and answers
 * with whatever `respond` decides for the n-th arrival (status, and how long it takes).
 */
export async function startLogoutReceiver(respond: (n: number) => { status: number; delayMs?: number } = () => ({ status: 200 })) {
  const arrivals: Arrival[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      arrivals.push({ at: Date.now(), logoutToken: new URLSearchParams(body).get('logout_token') ?? '' });
      const { status, delayMs = 0 } = respond(arrivals.length);
      setTimeout(() => res.writeHead(status).end(), delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    arrivals,
    port,
    uri: `http://127.0.0.1:${port}/backchannel`,
    async waitFor(count: number, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (arrivals.length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} logout tokens, got ${arrivals.length}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return arrivals;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
