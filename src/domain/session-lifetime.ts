/** How long a provider session (single sign-on, and /account) may live. */
export type SessionLimits = Readonly<{ idleSeconds: number; absoluteSeconds: number }>;

/**
 * Seconds until a session ends if nobody uses it: the inactivity timeout from now, but never past
 * the absolute lifetime counted from sign-in. Every use re-saves the session with this, so use
 * extends the idle deadline and never the absolute one. oidc-provider refuses a session past its
 * `exp`, so both limits hold on every process.
 */
export function sessionSecondsLeft(loginTs: number | undefined, nowSeconds: number, limits: SessionLimits): number {
  const absoluteLeft = loginTs ? loginTs + limits.absoluteSeconds - nowSeconds : limits.absoluteSeconds;
  // oidc-provider needs a positive whole number; a session past its lifetime is saved to expire at once.
  return Math.max(1, Math.min(limits.idleSeconds, absoluteLeft));
}

/**
 * Whether a request that oidc-provider answered with the session loaded used it, and so moves the
 * idle deadline: an authorization it answered (below 400: back to the client, or on to a sign-in
 * step). An authorization that failed does not (a 400 for an unknown client, or a silent one the
 * session could not serve: oidc-provider saves the session before its error handler runs, while
 * the status is still koa's default 404), and neither does merely opening the sign-out form.
 */
export function usedTheSession(request: { route: string | undefined; status: number }): boolean {
  return request.route !== 'end_session' && request.status < 400;
}

/**
 * What oidc-provider saves a session for at the end of a request (its `ttl.Session`): a request
 * that used it moves the idle deadline; any other keeps the deadline it had.
 */
export function sessionSecondsToSave(
  session: { loginTs?: number | undefined; exp?: number | undefined },
  request: { route: string | undefined; status: number },
  nowSeconds: number,
  limits: SessionLimits,
): number {
  if (session.exp && !usedTheSession(request)) return Math.max(1, session.exp - nowSeconds);
  return sessionSecondsLeft(session.loginTs, nowSeconds, limits);
}
