import crypto from 'node:crypto';
import type Provider from 'oidc-provider';
import type { JWK } from 'oidc-provider';
// oidc-provider reads its signing keys from here at every signature and at /jwks; re-running its
// own initialiser is how a running provider takes new keys without a restart.
import initializeKeystore from 'oidc-provider/lib/helpers/initialize_keystore.js';
import type { Logger } from 'pino';
import type { ChangeFeed } from '../db/change-feed.ts';

type Jwks = { keys: JWK[] };

const fingerprint = (jwks: Jwks) => crypto.hash('sha256', JSON.stringify(jwks.keys.map((key) => [key.kid, key.n, key.x])), 'base64url');

/**
 * `keys rotate` and `keys activate`, run anywhere, reach this process within seconds: on a keys
 * change (or the periodic refresh) the stored keys are read again and, if they differ, installed.
 * Reloads run one at a time; a change announced during one is read by the next.
 */
export function followKeyChanges(provider: Provider, initial: Jwks, feed: ChangeFeed, load: () => Promise<Jwks>, logger: Logger) {
  let current = fingerprint(initial);
  let running: Promise<void> | undefined;
  let again = false;

  const reload = async () => {
    const jwks = await load();
    const next = fingerprint(jwks);
    if (next === current) return;
    initializeKeystore.call(provider, jwks);
    current = next;
    logger.info({ kids: jwks.keys.map((key) => key.kid), signing: jwks.keys[0]?.kid }, 'signing keys reloaded');
  };

  const request = () => {
    if (running !== undefined) {
      again = true;
      return;
    }
    running = reload()
      .catch((error: unknown) => logger.error({ err: error }, 'could not reload the signing keys; keeping the ones in use'))
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          request();
        }
      });
  };

  feed.subscribe((change) => {
    if (change === null || change.topic === 'keys') request();
  });
  /** For shutdown and tests: resolves when no reload is running. */
  return {
    async settled(): Promise<void> {
      for (let current = running; current !== undefined; current = running) await current;
    },
  };
}
