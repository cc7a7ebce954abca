import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Services } from '../services.ts';

/**
 * The provider's own events that belong in the audit trail: a sign-in reaching the client (with
 * the school it is for), a sign-in refused, a client registered, a session ended.
 */
export function auditProviderEvents(provider: Provider, services: Services): void {
  const { audit, access, logger } = services;
  // Not awaited by the provider, so tracked: shutdown writes them before closing the database.
  const safely = (work: () => Promise<void>) => audit.inBackground(work);

  provider.on('authorization.success', (ctx: KoaContextWithOIDC) =>
    safely(async () => {
      const accountId = ctx.oidc.session?.accountId;
      const clientId = ctx.oidc.client?.clientId;
      if (!accountId || !clientId) return;
      const school = await access.currentSchool(accountId, clientId, ctx.oidc.session?.grantIdFor(clientId));
      await audit.record({
        event: 'sign_in.authorized',
        outcome: 'success',
        accountId,
        schoolId: school?.school.id,
        clientId,
        ip: ctx.ip,
        detail: { acr: ctx.oidc.session?.acr, amr: ctx.oidc.session?.amr },
      });
    }),
  );

  provider.on('authorization.error', (ctx: KoaContextWithOIDC, error: Error & { error?: string }) =>
    safely(() =>
      audit.record({
        event: 'sign_in.authorized',
        outcome: 'failure',
        reason: error.error ?? error.message,
        accountId: ctx.oidc?.session?.accountId,
        clientId: ctx.oidc?.client?.clientId,
        ip: ctx.ip,
      }),
    ),
  );

  // Anything the provider answers with server_error is a defect: log its cause.
  provider.on('server_error', (_ctx: KoaContextWithOIDC, error: Error) => logger.error({ err: error }, 'provider server_error'));

  const clientChange = (event: string) => (ctx: KoaContextWithOIDC, client: { clientId: string }) =>
    safely(() => audit.record({ event, outcome: 'success', clientId: client.clientId, ip: ctx.ip }));
  provider.on('registration_update.success', clientChange('client.updated'));
  provider.on('registration_delete.success', clientChange('client.deleted'));

  provider.on('registration_create.success', (ctx: KoaContextWithOIDC, client: { clientId: string; clientName?: string }) =>
    safely(() =>
      audit.record({
        event: 'client.registered',
        outcome: 'success',
        clientId: client.clientId,
        ip: ctx.ip,
        detail: { name: client.clientName },
      }),
    ),
  );

  provider.on('end_session.success', (ctx: KoaContextWithOIDC) =>
    safely(() =>
      audit.record({
        event: 'sign_out',
        outcome: 'success',
        accountId: ctx.oidc.session?.accountId,
        clientId: ctx.oidc.client?.clientId,
        ip: ctx.ip,
      }),
    ),
  );
}
