import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { SecretBox } from '../auth/secret-box.ts';
import { isLoopbackHttp } from '../domain/clients.ts';
import type { OidcPayloadsRepository, StoredPayload } from '../db/repositories/oidc-payloads.ts';
import type { ReadThroughCache } from '../db/read-through-cache.ts';
import { BearerStorage } from './bearer-storage.ts';

/**
 * Clients are read on every token request and change rarely: `clientCache` serves the provider's
 * reads (none inside a transaction), and every write of a client calls `onClientChange`, which
 * announces it to this and every other process.
 */
export type ClientCaching = {
  clientCache?: ReadThroughCache<AdapterPayload | undefined>;
  onClientChange?: (clientId: string) => Promise<void>;
};

/**
 * OIDC requires an https initiate_login_uri and oidc-provider enforces it. A development client
 * on localhost may still have an http one (the CLI allows it): it stays in the database for the
 * `schools` claim's login_uri, but is not shown to the provider, which would reject the client.
 */
function hideLoopbackLoginUri(model: string, payload: StoredPayload): StoredPayload {
  if (model !== 'Client' || typeof payload.initiate_login_uri !== 'string' || !isLoopbackHttp(payload.initiate_login_uri)) return payload;
  const { initiate_login_uri: _hidden, ...rest } = payload;
  return rest;
}

/** PostgreSQL text cannot hold NUL: an identifier with one (hostile input) matches nothing. */
const storable = (value: string) => typeof value === 'string' && value.length <= 512 && !value.includes('\u0000');

/** Client secrets are stored encrypted; everything else the provider stores is opaque JSON. */
const SEALED_SECRET = 'client_secret_sealed';

/**
 * oidc-provider's adapter contract over PostgreSQL: one class per model name, all sharing the
 * oidc_payloads table, so any number of provider processes see the same state. Bearer values
 * (tokens, codes, session and interaction ids) are stored and looked up as keyed hashes.
 */
export function createAdapterClass(payloads: OidcPayloadsRepository, box: SecretBox, caching: ClientCaching = {}) {
  const bearers = new BearerStorage(box);
  return class PostgresAdapter implements Adapter {
    private readonly model: string;

    constructor(model: string) {
      this.model = model;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number | undefined): Promise<void> {
      // Request parameters end up in the payload; PostgreSQL's jsonb cannot hold NUL.
      if (JSON.stringify(payload).includes('\\u0000')) throw new errors.InvalidRequest('a parameter contains a NUL character');
      const expiresAt = expiresIn ? new Date(Date.now() + expiresIn * 1000) : null;
      const stored = bearers.toStored(this.model, id, this.seal(id, payload as StoredPayload));
      await payloads.upsert(
        this.model,
        stored.id,
        stored.payload,
        { grantId: payload.grantId, userCode: stored.userCode, uid: payload.uid },
        expiresAt,
      );
      await this.changed(id);
    }

    /**
     * Gatehouse's own re-saves of a session it loaded (the /account keep-alive): unlike `upsert`,
     * never brings back a row deleted meanwhile (sessions ended by a reset, lock or mfa-reset).
     */
    async updateExisting(id: string, payload: AdapterPayload, expiresIn: number): Promise<boolean> {
      const stored = bearers.toStored(this.model, id, this.seal(id, payload as StoredPayload));
      return payloads.update(this.model, stored.id, stored.payload, new Date(Date.now() + expiresIn * 1000));
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (!storable(id)) return undefined;
      if (this.model === 'Client' && caching.clientCache) return caching.clientCache.get(id, () => this.read(id));
      return this.read(id);
    }

    private async read(id: string): Promise<AdapterPayload | undefined> {
      const row = await payloads.find(this.model, bearers.id(this.model, id));
      return row ? this.toPayload(id, { ...row, payload: bearers.fromStored(this.model, id, row.payload) }) : undefined;
    }

    /**
     * Only a Session has a uid, and it is not a credential. The payload comes back without the
     * session's id (only its hash is stored): the library uses this lookup to check that a session
     * still exists and whose it is, never to write it back or set its cookie.
     */
    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      if (!storable(uid)) return undefined;
      const row = await payloads.findBy(this.model, 'uid', uid);
      return row ? this.toPayload(null, row) : undefined;
    }

    /** The device flow (off here) looks a device code up by the code a person types. */
    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      if (!storable(userCode)) return undefined;
      const row = await payloads.findBy(this.model, 'user_code', bearers.userCode(userCode));
      return row ? this.toPayload(null, { ...row, payload: { ...row.payload, userCode } }) : undefined;
    }

    async consume(id: string): Promise<void> {
      if (!(await payloads.consume(this.model, bearers.id(this.model, id)))) {
        // Lost the race to a concurrent exchange: answer as the library does for a reused code.
        throw new errors.InvalidGrant(`${this.model} already consumed`);
      }
    }

    async destroy(id: string): Promise<void> {
      await payloads.destroy(this.model, bearers.id(this.model, id));
      await this.changed(id);
    }

    private async changed(id: string): Promise<void> {
      if (this.model === 'Client') await caching.onClientChange?.(id);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await payloads.revokeByGrantId(grantId);
    }

    /** `id` is the client id for a Client (its secret is sealed to it); null for a lookup by uid or user code. */
    private toPayload(id: string | null, row: { payload: StoredPayload; consumed_at: Date | null }) {
      const payload = hideLoopbackLoginUri(this.model, id === null ? row.payload : this.unseal(id, row.payload)) as AdapterPayload;
      return row.consumed_at ? { ...payload, consumed: Math.floor(row.consumed_at.getTime() / 1000) } : payload;
    }

    private seal(id: string, payload: StoredPayload): StoredPayload {
      if (this.model !== 'Client' || typeof payload.client_secret !== 'string') return payload;
      const { client_secret: secret, ...rest } = payload;
      return { ...rest, [SEALED_SECRET]: box.seal(secret, `client:${id}`) };
    }

    private unseal(id: string, payload: StoredPayload): StoredPayload {
      if (this.model !== 'Client' || typeof payload[SEALED_SECRET] !== 'string') return payload;
      const { [SEALED_SECRET]: sealed, ...rest } = payload;
      return { ...rest, client_secret: box.open(sealed as string, `client:${id}`) };
    }
  };
}
