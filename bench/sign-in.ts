import crypto from 'node:crypto';
import { basicAuthorization } from './client-credentials.ts';
import type { Seed } from './gatehouse.ts';

export type SignInLoad = {
  signInsPerSecond: number;
  completed: number;
  latencyMs: { p50: number; p90: number; p99: number };
  failed: number;
  /** Where the first failures stopped, as "step: status what". */
  failures: string[];
};

/** A sign-in that did not reach a code and tokens, saying where it stopped. */
class SignInStopped extends Error {}

const MAX_STEPS = 12;
const KEPT_FAILURES = 5;

/**
 * `browsers` simulated browsers, each signing in to an account of its own again and again for
 * `durationSeconds`, each time as a new browser (no session cookie, so every sign-in asks for the
 * password):
 * /auth → login page → POST email and password → redirects → code → POST /token.
 */
export async function signInLoad(issuer: string, seed: Seed, options: { browsers: number; durationSeconds: number }): Promise<SignInLoad> {
  // One sign-in first, alone: a flow that cannot complete fails here, before any load.
  await signIn(issuer, seed, seed.emails[0] ?? '');
  const durations: number[] = [];
  const failures: string[] = [];
  let failed = 0;
  const started = performance.now();
  const deadline = started + options.durationSeconds * 1000;
  const browser = async (email: string) => {
    while (performance.now() < deadline) {
      const begun = performance.now();
      try {
        await signIn(issuer, seed, email);
        durations.push(performance.now() - begun);
      } catch (error) {
        failed += 1;
        if (failures.length < KEPT_FAILURES) failures.push((error as Error).message);
      }
    }
  };
  await Promise.all(seed.emails.slice(0, options.browsers).map(browser));
  const elapsedSeconds = (performance.now() - started) / 1000;
  return {
    signInsPerSecond: durations.length / elapsedSeconds,
    completed: durations.length,
    latencyMs: percentiles(durations),
    failed,
    failures,
  };
}

/** One whole sign-in by a fresh browser; throws SignInStopped naming the step where it stopped. */
export async function signIn(issuer: string, seed: Seed, email: string): Promise<void> {
  const browser = new Browser();
  const verifier = crypto.randomBytes(32).toString('base64url');
  const state = crypto.randomBytes(16).toString('base64url');
  const { clientId, redirectUri } = seed.schoolSystem;
  const authorize = new URL('/auth', issuer);
  authorize.search = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    scope: 'openid',
    redirect_uri: redirectUri,
    code_challenge: crypto.createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state,
    nonce: crypto.randomBytes(16).toString('base64url'),
  }).toString();

  let response = await browser.request(authorize.href);
  let passwordSent = false;
  for (let step = 0; step < MAX_STEPS; step += 1) {
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      const next = new URL(location, response.url || authorize.href);
      if (next.href.startsWith(redirectUri)) return exchangeCode(issuer, seed, next, state, verifier);
      response = await browser.request(next.href);
      continue;
    }
    const page = await response.text();
    const form = loginFormOf(page);
    if (response.status !== 200 || !form || passwordSent) throw stopped(`${response.url}`, response.status, page);
    passwordSent = true;
    response = await browser.request(new URL(form.action, issuer).href, {
      _csrf: form.csrf,
      email,
      password: seed.password,
    });
  }
  throw new SignInStopped(`no code after ${MAX_STEPS} steps (last: ${response.status} ${response.url})`);
}

async function exchangeCode(issuer: string, seed: Seed, callback: URL, state: string, verifier: string): Promise<void> {
  const code = callback.searchParams.get('code');
  if (!code || callback.searchParams.get('state') !== state) {
    throw new SignInStopped(`redirect to the client without a code: ${callback.search.slice(0, 300)}`);
  }
  const response = await fetch(new URL('/token', issuer), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuthorization(seed.schoolSystem) },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: seed.schoolSystem.redirectUri,
      code_verifier: verifier,
    }),
  });
  const body = await response.text();
  if (response.status !== 200 || !body.includes('"id_token"')) throw stopped('POST /token', response.status, body);
}

/** Nearest-rank percentiles of the sign-in durations, in milliseconds. */
function percentiles(values: number[]): { p50: number; p90: number; p99: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (fraction: number) => sorted[Math.max(0, Math.ceil(fraction * sorted.length) - 1)] ?? Number.NaN;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99) };
}

function loginFormOf(page: string): { action: string; csrf: string } | undefined {
  const action = /<form method="post" action="([^"]*\/login)"/.exec(page)?.[1];
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page)?.[1];
  return action && csrf ? { action: decodeEntities(action), csrf: decodeEntities(csrf) } : undefined;
}

const decodeEntities = (text: string) =>
  text
    .replace(/&#x3D;/g, '=')
    .replace(/&amp;/g, '&')
    .replace(/&quot;/g, '"');

function stopped(where: string, status: number, body: string): SignInStopped {
  // The page's title, heading and any alert it shows (a wrong password, a pause) say what happened.
  const parts = [/<title>([^<]*)<\/title>/, /<h1[^>]*>([^<]*)<\/h1>/, /role="alert"[^>]*>([^<]*)</]
    .map((pattern) => pattern.exec(body)?.[1]?.trim())
    .filter(Boolean);
  const what = parts.length > 0 ? parts.join(' — ') : body.slice(0, 300);
  return new SignInStopped(`stopped at ${where}: ${status} ${what}`);
}

/** fetch with a cookie jar and no automatic redirects: what a browser does, step by step. */
class Browser {
  private readonly cookies = new Map<string, string>();

  /** GET, or POST of a form when `form` is given. */
  async request(url: string, form?: Record<string, string>): Promise<Response> {
    const headers: Record<string, string> = { accept: 'text/html' };
    if (this.cookies.size > 0) headers.cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const response = await fetch(url, {
      method: form ? 'POST' : 'GET',
      headers,
      body: form ? new URLSearchParams(form) : undefined,
      redirect: 'manual',
    });
    this.remember(response.headers.getSetCookie());
    // A redirect's body is never read: release the connection.
    if (response.status >= 300 && response.status < 400) await response.body?.cancel();
    return response;
  }

  /** Paths are ignored: sending a cookie to more paths of the same host changes nothing here. */
  private remember(setCookies: string[]): void {
    for (const header of setCookies) {
      const [pair = '', ...attributes] = header.split(';');
      const separator = pair.indexOf('=');
      const name = pair.slice(0, separator).trim();
      const value = pair.slice(separator + 1).trim();
      const expired = attributes.some((attribute) => {
        const [rawKey = '', ...rest] = attribute.split('=');
        const key = rawKey.trim().toLowerCase();
        const setting = rest.join('=').trim();
        return (key === 'max-age' && Number(setting) <= 0) || (key === 'expires' && Date.parse(setting) < Date.now());
      });
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
}
