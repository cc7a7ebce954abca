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
