import type http from 'node:http';
import net from 'node:net';

const IDLE_SWEEP_MS = 50;
/**
 * How long a keep-alive client may still send on its open socket after shutdown begins. Each such
 * request is answered with `Connection: close`; closing idle sockets at once instead races requests
 * already on the wire, which clients see as a reset (a load balancer reports a 502).
 */
const KEEP_ALIVE_GRACE_MS = 1_000;

/**
 * Lets an HTTP server stop the way load balancers and keep-alive clients expect: nothing new is
 * accepted (new connections are refused, which clients may safely retry elsewhere); every response
 * not yet started says `Connection: close`, so Node closes its socket after answering; sockets still
 * idle after the grace period are closed. Requests in flight get up to `timeoutMs`; whatever is
 * still open then is cut.
 */
export function drainable(server: http.Server) {
  let draining = false;
  const inFlight = new Set<http.ServerResponse>();

  server.prependListener('request', (_request: http.IncomingMessage, response: http.ServerResponse) => {
    inFlight.add(response);
    response.once('close', () => inFlight.delete(response));
    if (draining) response.setHeader('Connection', 'close');
  });

  /** Resolves once the server has closed; `cut` counts requests that were still running at the deadline. */
  async function drain(timeoutMs: number): Promise<{ cut: number }> {
    draining = true;
    for (const response of inFlight) if (!response.headersSent) response.setHeader('Connection', 'close');
    // net.Server's close stops the listener only: http.Server's own close would also drop the idle
    // keep-alive sockets at once, under requests their clients have already sent.
    const closed = new Promise<void>((resolve) => net.Server.prototype.close.call(server, () => resolve()));
    const timers: NodeJS.Timeout[] = [];
    const after = <T>(ms: number, value: T) => new Promise<T>((resolve) => timers.push(setTimeout(() => resolve(value), ms)));
    try {
      const graceMs = Math.min(KEEP_ALIVE_GRACE_MS, timeoutMs);
      if ((await Promise.race([closed.then(() => 'closed' as const), after(graceMs, 'grace' as const)])) === 'closed') return { cut: 0 };
      // A keep-alive socket between two requests is idle only for a moment: look again and again.
      server.closeIdleConnections();
      timers.push(setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS));
      if ((await Promise.race([closed.then(() => 'closed' as const), after(timeoutMs - graceMs, 'deadline' as const)])) === 'closed') {
        return { cut: 0 };
      }
      const cut = inFlight.size;
      server.closeAllConnections();
      await closed;
      return { cut };
    } finally {
      for (const timer of timers) clearTimeout(timer);
    }
  }

  return drain;
}
