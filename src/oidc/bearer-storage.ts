import crypto from 'node:crypto';
import type { SecretBox } from '../auth/secret-box.ts';
import type { OidcPayloadsRepository, StoredPayload } from '../db/repositories/oidc-payloads.ts';

/**
 * Ids that are not credentials stay readable: a client id is public, and a grant id is an internal
 * reference (tokens and grant_schools point at it) that no endpoint accepts. Every other model's
 * id is a bearer value handed to a browser or a client — token, code, the session and interaction
 * cookies, a request_uri — and so is the id of any model a later oidc-provider adds.
 */
const CLEAR_ID_MODELS: ReadonlySet<string> = new Set(['Client', 'Grant']);

export const hasBearerId = (model: string): boolean => !CLEAR_ID_MODELS.has(model);

/**
 * Interaction fields that hold a bearer id and that the provider reads back: the resume URL ends
 * with the interaction's own id; parJti and deviceCode name the pushed request or device code the
 * sign-in continues (to consume them at the end).
 */
const SEALED_INTERACTION_FIELDS = ['returnTo', 'parJti', 'deviceCode'] as const;

type StoredForm = { id: string; payload: StoredPayload; userCode: string | undefined };

/**
 * The one place that decides what oidc_payloads holds for a bearer value: an HMAC-SHA256 of it
 * under a key derived from the master key (a database or backup alone is not enough to use a
 * value, or to test a guess offline), and a payload with no copy of it.
 */
export class BearerStorage {
  // A KeyObject, made once: from a Buffer, createHmac would import the key on every token.
  readonly #key: crypto.KeyObject;
  readonly #box: SecretBox;

  constructor(box: SecretBox) {
    this.#key = crypto.createSecretKey(box.deriveKey('oidc-bearer-ids'));
    this.#box = box;
  }

  /** The stored id a lookup goes by. */
  id(model: string, value: string): string {
    return hasBearerId(model) ? this.#hash('id', value) : value;
  }

  userCode(value: string): string {
    return this.#hash('user_code', value);
  }

  toStored(model: string, id: string, payload: StoredPayload): StoredForm {
    const userCode = typeof payload.userCode === 'string' ? this.userCode(payload.userCode) : undefined;
    if (!hasBearerId(model)) return { id, payload, userCode };
    const storedId = this.id(model, id);
    // oidc-provider writes the id into the payload as `jti` (and a device flow's user code).
    const { jti: _id, userCode: _userCode, ...rest } = payload;
    return { id: storedId, payload: model === 'Interaction' ? this.#protectInteraction(storedId, rest) : rest, userCode };
  }

  /** The payload as oidc-provider wrote it, given the value it was looked up by. */
  fromStored(model: string, id: string, payload: StoredPayload): StoredPayload {
    if (!hasBearerId(model)) return payload;
    const restored = model === 'Interaction' ? this.#openInteraction(this.id(model, id), payload) : payload;
    return { ...restored, jti: id };
  }

  #hash(kind: 'id' | 'user_code', value: string): string {
    return crypto.createHmac('sha256', this.#key).update(`${kind}:${value}`).digest('base64url');
  }

  /**
   * An interaction copies the session's cookie value (`session.cookie`, which nothing reads back:
   * dropped) and holds the bearer ids above (sealed to this row: usable only with the master key).
   */
  #protectInteraction(storedId: string, payload: StoredPayload): StoredPayload {
    const result: StoredPayload = { ...payload };
    if (isRecord(result.session) && 'cookie' in result.session) {
      const { cookie: _cookie, ...session } = result.session;
      result.session = session;
    }
    for (const field of SEALED_INTERACTION_FIELDS) {
      if (typeof result[field] === 'string') result[field] = this.#box.seal(result[field], `Interaction.${field}:${storedId}`);
    }
    return result;
  }

  #openInteraction(storedId: string, payload: StoredPayload): StoredPayload {
    const result: StoredPayload = { ...payload };
    for (const field of SEALED_INTERACTION_FIELDS) {
      if (typeof result[field] === 'string') result[field] = this.#box.open(result[field], `Interaction.${field}:${storedId}`);
    }
    return result;
  }
}

/**
 * Rows written before ids were hashed (set aside by migration 1764800000000) are re-keyed at every
 * start, before the process serves: sessions and tokens keep working. A no-op once done; processes
 * starting together each re-key what the others have not.
 */
export async function rehashStoredIds(payloads: OidcPayloadsRepository, box: SecretBox): Promise<number> {
  const bearers = new BearerStorage(box);
  let count = 0;
  for (let rows = await payloads.listUnhashed(500); rows.length > 0; rows = await payloads.listUnhashed(500)) {
    for (const row of rows) await payloads.replaceUnhashed(row, bearers.toStored(row.model, row.id, row.payload));
    count += rows.length;
  }
  return count;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
