import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa, { type Context } from 'koa';
import Router from '@koa/router';
import * as client from 'openid-client';

/**
 * An example school system (relying party): signs staff in with Gatehouse using openid-client,
 * shows the school and access level, draws the schools drop-down from the `schools` claim,
 * asks for higher access with acr_values on the page that needs it, and links to the person's
 * Account settings at Gatehouse (`/account?client_id=…`, so those pages show the school's name).
 * Its own words are English: it stands for a school's system, not for Gatehouse. A Welsh-medium
 * school's system asks for Welsh pages with `uiLocales: 'cy'` (sent as `ui_locales`).
 */
export type ExampleOptions = {
  issuer: string;
  clientId: string;
  clientSecret: string;
  title: string;
  port?: number;
  /** The language(s) it asks Gatehouse's pages to be in (`ui_locales`, e.g. `cy`); `/login?ui_locales=…` overrides it. */
  uiLocales?: string;
};

type Claims = {
  sub: string;
  name?: string;
  email?: string;
  acr?: string;
  school?: { id: string; name: string; postcode: string } | null;
  access_level?: 'basic' | 'higher';
  schools?: Array<{ id: string; name: string; postcode: string; login_uri: string | null }>;
};

type Session = { claims?: Claims; idToken?: string; pending?: { state: string; verifier: string; returnTo: string } };

const HIGHER = 'urn:gatehouse:acr:higher';

export async function startExampleSchoolSystem(options: ExampleOptions) {
  const sessions = new Map<string, Session>();
  const app = new Koa();
  app.keys = [crypto.randomBytes(32).toString('base64url')];
  const router = new Router();
  let base = '';
  let config: client.Configuration | undefined;
  const oidc = async () =>
    (config ??= await client.discovery(new URL(options.issuer), options.clientId, options.clientSecret, undefined, {
      execute: options.issuer.startsWith('http:') ? [client.allowInsecureRequests] : [],
    }));

  const sessionOf = (ctx: Context): Session => {
    // Cookies ignore the port: two example systems on localhost need their own cookie names.
    const cookie = `example.sid-${new URL(base).port}`;
    let id = ctx.cookies.get(cookie, { signed: true });
    if (!id || !sessions.has(id)) {
      id = crypto.randomUUID();
      sessions.set(id, {});
      ctx.cookies.set(cookie, id, { signed: true, httpOnly: true, sameSite: 'lax' });
    }
    return sessions.get(id)!;
  };

  // Account settings at Gatehouse, under this school's name.
  const accountUrl = `${options.issuer}/account?${new URLSearchParams({ client_id: options.clientId })}`;

  const html = (ctx: Context, title: string, body: string) => {
    ctx.type = 'html';
    ctx.body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body><header><h1>${escapeHtml(options.title)}</h1></header><main>${body}</main></body></html>`;
  };

  router.get('/', (ctx) => {
    const { claims } = sessionOf(ctx);
    if (!claims) return html(ctx, options.title, `<p><a id="sign-in" href="/login">Sign in with Gatehouse</a></p>`);
    const others = (claims.schools ?? []).filter((school) => school.id !== claims.school?.id && school.login_uri);
    html(
      ctx,
      options.title,
      `<p id="who">Signed in as ${escapeHtml(claims.name ?? claims.email ?? claims.sub)}</p>
<p>School: <strong id="school">${escapeHtml(claims.school?.name ?? 'none')}</strong></p>
<p>Access level: <strong id="access-level">${escapeHtml(claims.access_level ?? 'basic')}</strong></p>
<form method="get" action="/switch">
  <label for="switch-to">Switch school</label>
  <select id="switch-to" name="to">${others.map((s) => `<option value="${escapeHtml(s.id)}">${escapeHtml(s.name)}</option>`).join('')}</select>
  <button type="submit">Switch</button>
</form>
<p><a href="/reports">Reports (higher access)</a></p>
<p><a id="manage-account" href="${escapeHtml(accountUrl)}">Manage your account</a></p>
<p><a href="/logout">Log out</a></p>`,
    );
  });

  // Needs higher access: ask Gatehouse for it (step-up) when this sign-in only has basic.
  router.get('/reports', (ctx) => {
    const { claims } = sessionOf(ctx);
    if (claims?.access_level !== 'higher') return ctx.redirect(`/login?acr=higher&return=/reports`);
    html(
      ctx,
      'Reports',
      `<h2 id="reports">Reports</h2><p>Higher access at ${escapeHtml(claims.school?.name ?? '')}.</p><p><a href="/">Home</a></p>`,
    );
  });

  router.get('/switch', (ctx) => {
    const { claims } = sessionOf(ctx);
    const target = (claims?.schools ?? []).find((school) => school.id === ctx.query.to);
    if (!target?.login_uri) return ctx.redirect('/');
    const url = new URL(target.login_uri);
    url.searchParams.set('iss', options.issuer);
    if (claims?.email) url.searchParams.set('login_hint', claims.email);
    ctx.redirect(url.toString());
  });

  // OIDC third-party initiated login: another system (or Gatehouse's schools list) sends people here.
  router.get('/initiate-login', (ctx) => {
    if (ctx.query.iss !== options.issuer) {
      ctx.status = 400;
      return html(ctx, 'Error', '<p>Unknown issuer.</p>');
    }
    const hint = typeof ctx.query.login_hint === 'string' ? `&login_hint=${encodeURIComponent(ctx.query.login_hint)}` : '';
    ctx.redirect(`/login?fresh=1${hint}`);
  });

  router.get('/login', async (ctx) => {
    const session = sessionOf(ctx);
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const returnTo = typeof ctx.query.return === 'string' && ctx.query.return.startsWith('/') ? ctx.query.return : '/';
    session.pending = { state, verifier, returnTo };
    const params: Record<string, string> = {
      redirect_uri: `${base}/callback`,
      scope: 'openid email profile school',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    };
    if (ctx.query.acr === 'higher') params.acr_values = HIGHER;
    if (typeof ctx.query.login_hint === 'string') params.login_hint = ctx.query.login_hint;
    const uiLocales = typeof ctx.query.ui_locales === 'string' ? ctx.query.ui_locales : options.uiLocales;
    if (uiLocales) params.ui_locales = uiLocales;
    ctx.redirect(client.buildAuthorizationUrl(await oidc(), params).toString());
  });

  router.get('/callback', async (ctx) => {
    const session = sessionOf(ctx);
    const pending = session.pending;
    session.pending = undefined;
    if (pending && ctx.query.error && session.claims) {
      // A step-up that was declined: the person keeps the sign-in they had.
      return ctx.redirect('/');
    }
    if (!pending || ctx.query.error) {
      ctx.status = 400;
      return html(
        ctx,
        'Not signed in',
        `<p id="error">Not signed in: ${escapeHtml(String(ctx.query.error_description ?? ctx.query.error ?? 'no sign-in in progress'))}</p><p><a href="/">Home</a></p>`,
      );
    }
    const url = new URL(ctx.href);
    const tokens = await client.authorizationCodeGrant(await oidc(), new URL(`${base}${url.pathname}${url.search}`), {
      pkceCodeVerifier: pending.verifier,
      expectedState: pending.state,
    });
    session.claims = tokens.claims() as unknown as Claims;
    session.idToken = tokens.id_token;
    ctx.redirect(pending.returnTo);
  });

  router.get('/logout', async (ctx) => {
    const session = sessionOf(ctx);
    const idToken = session.idToken;
    session.claims = undefined;
    session.idToken = undefined;
    if (!idToken) return ctx.redirect('/');
    ctx.redirect(client.buildEndSessionUrl(await oidc(), { id_token_hint: idToken, post_logout_redirect_uri: `${base}/` }).toString());
  });

  app.use(router.routes());
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, resolve));
  base = `http://localhost:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
