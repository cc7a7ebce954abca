import type { KoaContextWithOIDC } from 'oidc-provider';
import { renderErrorPage } from '../http/errors.ts';
import { chosenLanguage, hereOf, languageOf } from '../http/language.ts';
import { oauthErrorWords } from '../http/oauth-error-words.ts';
import type { ViewRenderer } from '../http/views.ts';
import { languageOfTags, type Language } from '../i18n/languages.ts';
import { manageAccountLink, schoolNameOfClient } from '../interactions/branding.ts';
import type { Services } from '../services.ts';
import { answersInJson } from './client-authentication.ts';

type ErrorOut = { error: string; error_description?: string };

/**
 * The pages oidc-provider shows itself: the logout confirmation, the logged-out page and its
 * error page. Each is in the person's language, names the school in the header when the school
 * system serves one school, and says what to do next in plain words.
 */
export function providerPages(services: Services, render: ViewRenderer) {
  /** The school's name for a school system serving one school; nothing when it cannot be known (the database is down). */
  const schoolNameOf = (clientId: string | undefined) => schoolNameOfClient(services.access, clientId).catch(() => undefined);

  /**
   * A logout page's language: the school system's ui_locales, the link's choice, the language
   * the signed-in account last used (logging out from Account settings), the browser's.
   */
  async function logoutLanguage(ctx: KoaContextWithOIDC, uiLocales: unknown, accountId: string | undefined): Promise<Language> {
    if (languageOfTags(uiLocales) || chosenLanguage(ctx)) return languageOf(ctx, { uiLocales });
    const account = accountId ? await services.accounts.findById(accountId).catch(() => null) : null;
    return account?.language ?? languageOf(ctx);
  }

  /** oidc-provider's own confirmation form (action and xsrf) in the hosted page. */
  async function logoutSource(ctx: KoaContextWithOIDC, form: string) {
    const action = /action="([^"]+)"/.exec(form)?.[1] ?? '/session/end/confirm';
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(form)?.[1] ?? '';
    const language = await logoutLanguage(ctx, ctx.oidc.params?.ui_locales, ctx.oidc.session?.accountId);
    // The logged-out page that follows is in the same language (carryLogoutLanguage).
    const confirm = new URL(action, ctx.href);
    confirm.searchParams.set('ui_locales', language);
    const client = ctx.oidc.client;
    ctx.type = 'html';
    ctx.body = render('logout', {
      language,
      here: hereOf(ctx),
      schoolName: await schoolNameOf(client?.clientId),
      action: confirm.href,
      xsrf,
      clientName: client?.clientName,
    });
  }

  /**
   * "Log out of <client> only" keeps the session: say so, and offer the way on. This route has no
   * session of its own in oidc-provider, so the browser's session is only read, never touched.
   */
  async function postLogoutSuccessSource(ctx: KoaContextWithOIDC) {
    const { provider } = ctx.oidc;
    const id = ctx.oidc.cookies.get(provider.cookieName('session'), { signed: true });
    const session = id ? await provider.Session.find(id) : undefined;
    const accountId = session?.accountId;
    const client = ctx.oidc.client;
    ctx.type = 'html';
    ctx.body = render('logged-out', {
      language: await logoutLanguage(ctx, ctx.query.ui_locales, accountId),
      here: hereOf(ctx),
      schoolName: await schoolNameOf(client?.clientId),
      stillSignedIn: Boolean(accountId),
      clientName: client?.clientName,
      accountLink: manageAccountLink(client?.clientId),
    });
  }

  /**
   * Every OAuth error that reaches a browser, in plain words with what to do next; the code and
   * its description only in small print for IT staff. Machine endpoints keep their JSON.
   */
  async function renderError(ctx: KoaContextWithOIDC, out: ErrorOut, error: unknown) {
    if (answersInJson(ctx)) {
      ctx.body = out;
      return;
    }
    const words = oauthErrorWords(ctx.oidc?.route, out.error, (error as { name?: string } | undefined)?.name);
    const clientId = ctx.oidc?.client?.clientId;
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = renderErrorPage(
      render,
      services.words,
      languageOf(ctx, { uiLocales: ctx.oidc?.params?.ui_locales ?? ctx.query.ui_locales }),
      { status: ctx.status, key: words.key },
      {
        schoolName: await schoolNameOf(clientId),
        technical: out.error_description ? `${out.error}: ${out.error_description}` : out.error,
        here: hereOf(ctx),
        accountLink: words.manageAccount ? manageAccountLink(clientId) : undefined,
      },
    );
  }

  /**
   * The confirmation form posts to /session/end/confirm, whose redirect to the logged-out page
   * carries nothing but a client_id: add the page's language (and, after logging out of
   * everything, the school system, for its school's name). A school system's own
   * post_logout_redirect_uri is left alone.
   */
  async function carryLogoutLanguage(ctx: KoaContextWithOIDC, next: () => Promise<unknown>) {
    await next();
    if (ctx.oidc?.route !== 'end_session_confirm' || ctx.status !== 303) return;
    const location = ctx.response.get('Location');
    if (!location) return;
    const target = new URL(location, ctx.href);
    const success = new URL(ctx.oidc.urlFor('end_session_success'));
    if (target.origin !== success.origin || target.pathname !== success.pathname) return;
    const language = languageOfTags(ctx.query.ui_locales);
    if (language) target.searchParams.set('ui_locales', language);
    const clientId = ctx.oidc.client?.clientId;
    if (clientId && !target.searchParams.has('client_id')) target.searchParams.set('client_id', clientId);
    ctx.set('Location', target.href);
  }

  return { logoutSource, postLogoutSuccessSource, renderError, carryLogoutLanguage };
}
