import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Language } from '../i18n/languages.ts';
import type { Services } from '../services.ts';

/**
 * A person signed in to this browser who picks a language wants their mails in it too. The
 * session is only read: choosing a language neither extends nor creates one.
 */
export async function rememberLanguageOfSession(provider: Provider, services: Services, ctx: Context, language: Language): Promise<void> {
  const id = provider.createContext(ctx.req, ctx.res).cookies.get(provider.cookieName('session'), { signed: true });
  const session = id ? await provider.Session.find(id) : undefined;
  if (session?.accountId) await services.repositories.accounts.setLanguage(session.accountId, language);
}
