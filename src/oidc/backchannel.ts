import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from 'pino';
import { BACKCHANNEL_LOGOUT, PermanentDeliveryError, type OutboundDeliveryService } from '../domain/outbound.ts';

/** What @types/oidc-provider leaves out of Client: the library's own send. */
type LogoutClient = {
  clientId: string;
  backchannelLogoutUri?: string | undefined;
  backchannelLogout(sub: string, sid: string): Promise<void>;
};

/**
 * Back-channel logout through the outbound queue. The library's end_session calls
 * `client.backchannelLogout(sub, sid)` for each client and waits for the school system to answer,
 * once, forgetting any failure. Here that call only queues a row (in the logout request, without
 * waiting for anyone); the worker later calls the library's own method, which mints a fresh
 * logout token for every attempt, so a late delivery still carries a token within its lifetime.
 */
export function queueBackchannelLogout(provider: Provider, outbound: OutboundDeliveryService, logger: Logger): void {
  const prototype = provider.Client.prototype as unknown as LogoutClient;
  const send = prototype.backchannelLogout;

  prototype.backchannelLogout = async function enqueue(this: LogoutClient, sub: string, sid: string) {
    await outbound.enqueue({
      kind: BACKCHANNEL_LOGOUT,
      clientId: this.clientId,
      accountId: sub,
      destination: this.backchannelLogoutUri!,
      payload: { sub, sid },
    });
  };

  // The library posts to the client's backchannel_logout_uri as it is now (it may have changed
  // since the logout was queued): that is the destination logged and audited.
  outbound.registerSender(BACKCHANNEL_LOGOUT, async (delivery) => {
    const client = (await provider.Client.find(delivery.clientId)) as unknown as LogoutClient | undefined;
    if (!client) throw new PermanentDeliveryError('the client no longer exists');
    if (!client.backchannelLogoutUri) throw new PermanentDeliveryError('the client no longer has a backchannel_logout_uri');
    const { sub, sid } = delivery.payload as { sub: string; sid: string };
    return { destination: client.backchannelLogoutUri, send: () => send.call(client, sub, sid) };
  });

  // Only queueing can fail inside the request now (the database): the logout still completes.
  provider.on('backchannel.error', (_ctx: KoaContextWithOIDC, error: Error, client: { clientId: string }) =>
    logger.error({ err: error, clientId: client.clientId }, 'could not queue a back-channel logout'),
  );
}
