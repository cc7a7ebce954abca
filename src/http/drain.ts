import type http from 'node:http';

const IDLE_SWEEP_MS = 50;

/**
 * Lets an HTTP server stop the way load balancers and keep-alive clients expect. Once draining,
 * every response not yet started says `Connection: close` (Node then closes its socket), sockets
 * idle between keep-alive requests are closed as soon as they are idle, and nothing new is
 * accepted. Requests in flight get up to `timeoutMs`; whatever is still open then is cut.
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
  return async function drain(timeoutMs: number): Promise<{ cut: number }> {
    draining = true;
    for (const response of inFlight) if (!response.headersSent) response.setHeader('Connection', 'close');
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // A keep-alive socket between two requests is idle only for a moment: look again and again.
    const sweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
    server.closeIdleConnections();
    let deadline: NodeJS.Timeout | undefined;
    const timedOut = new Promise<true>((resolve) => {
      deadline = setTimeout(() => resolve(true), timeoutMs);
    });
    try {
      if ((await Promise.race([closed, timedOut])) !== true) return { cut: 0 };
      const cut = inFlight.size;
      server.closeAllConnections();
      await closed;
      return { cut };
    } finally {
      clearInterval(sweep);
      clearTimeout(deadline);
    }
  };
}
