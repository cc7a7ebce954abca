import crypto from 'node:crypto';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { Account } from '../../src/db/entities/index.ts';
import type { RequestContext } from '../../src/domain/audit.ts';
import type { Services } from '../../src/services.ts';

/**
 * A software authenticator for tests without a browser: a P-256 key per credential, the
 * authenticator data and client data a browser and an authenticator would produce, with every
 * field a test may want to get wrong (origin, rp id, flags, counter, challenge, user handle).
 */

type CborValue = number | string | Uint8Array | Map<CborValue, CborValue>;

/** The few CBOR items WebAuthn needs (RFC 8949): integers, byte and text strings, maps. */
export function cbor(value: CborValue): Buffer {
  const head = (major: number, length: number): Buffer => {
    if (length < 24) return Buffer.from([(major << 5) | length]);
    if (length < 0x100) return Buffer.from([(major << 5) | 24, length]);
    if (length < 0x10000) return Buffer.from([(major << 5) | 25, length >> 8, length & 0xff]);
    const four = Buffer.alloc(5);
    four[0] = (major << 5) | 26;
    four.writeUInt32BE(length, 1);
    return four;
  };
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), value]);
  return Buffer.concat([head(5, value.size), ...[...value].flatMap(([key, item]) => [cbor(key), cbor(item)])]);
}

const FLAG = { up: 0x01, uv: 0x04, be: 0x08, bs: 0x10, at: 0x40 } as const;
const sha256 = (data: Buffer | string) => crypto.createHash('sha256').update(data).digest();
const b64url = (data: Buffer | Uint8Array) => Buffer.from(data).toString('base64url');

/** What a test may set on one ceremony; by default everything a good authenticator and browser would send. */
export type Tamper = {
  origin?: string;
  rpId?: string;
  challenge?: string;
  userPresent?: boolean;
  userVerified?: boolean;
  backupEligible?: boolean;
  backedUp?: boolean;
  /** The sign counter to report (default: one more than the last). */
  counter?: number;
  type?: string;
  /** The user handle to return in an assertion (default: the one it was created with; null: none). */
  userHandle?: string | null;
};

export type SoftCredential = {
  id: string;
  privateKey: crypto.KeyObject;
  userHandle: string;
  rpId: string;
  counter: number;
  backupEligible: boolean;
};

function authenticatorData(rpId: string, flags: number, counter: number, attested?: Buffer): Buffer {
  const count = Buffer.alloc(4);
  count.writeUInt32BE(counter >>> 0);
  return Buffer.concat([sha256(rpId), Buffer.from([flags]), count, ...(attested ? [attested] : [])]);
}

function flagsOf(tamper: Tamper, backupEligible: boolean): number {
  let flags = 0;
  if (tamper.userPresent ?? true) flags |= FLAG.up;
  if (tamper.userVerified ?? true) flags |= FLAG.uv;
  if (tamper.backupEligible ?? backupEligible) flags |= FLAG.be;
  if (tamper.backedUp ?? tamper.backupEligible ?? backupEligible) flags |= FLAG.bs;
  return flags;
}

const clientData = (type: string, challenge: string, origin: string) =>
  Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }), 'utf8');

/** The COSE form of a P-256 public key (EC2, ES256). */
function coseKey(publicKey: crypto.KeyObject): Buffer {
  const jwk = publicKey.export({ format: 'jwk' });
  return cbor(
    new Map<CborValue, CborValue>([
      [1, 2],
      [3, -7],
      [-1, 1],
      [-2, Buffer.from(jwk.x!, 'base64url')],
      [-3, Buffer.from(jwk.y!, 'base64url')],
    ]),
  );
}

export class SoftAuthenticator {
  readonly origin: string;
  readonly credentials: SoftCredential[] = [];
  private readonly backupEligible: boolean;

  /** `origin`: the page the browser is on; `backupEligible`: a synced passkey (BE) or a device-bound one. */
  constructor(origin: string, options: { backupEligible?: boolean } = {}) {
    this.origin = origin;
    this.backupEligible = options.backupEligible ?? false;
  }

  /**
   * navigator.credentials.create(): a new credential and its 'none' attestation. `again`: the
   * same credential presented once more (what a cloned key, or a replayed registration, sends).
   */
  create(options: PublicKeyCredentialCreationOptionsJSON, tamper: Tamper = {}, again?: SoftCredential): RegistrationResponseJSON {
    const privateKey = again?.privateKey ?? crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const publicKey = crypto.createPublicKey(privateKey);
    const rawId = again ? Buffer.from(again.id, 'base64url') : crypto.randomBytes(16);
    const rpId = tamper.rpId ?? options.rp.id ?? new URL(this.origin).hostname;
    const credential: SoftCredential = again ?? {
      id: b64url(rawId),
      privateKey,
      userHandle: options.user.id,
      rpId,
      counter: tamper.counter ?? 0,
      backupEligible: tamper.backupEligible ?? this.backupEligible,
    };
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(rawId.length);
    const attested = Buffer.concat([Buffer.alloc(16), idLength, rawId, coseKey(publicKey)]);
    const authData = authenticatorData(rpId, flagsOf(tamper, credential.backupEligible) | FLAG.at, credential.counter, attested);
    const attestationObject = cbor(
      new Map<CborValue, CborValue>([
        ['fmt', 'none'],
        ['attStmt', new Map()],
        ['authData', authData],
      ]),
    );
    if (!again) this.credentials.push(credential);
    return {
      id: credential.id,
      rawId: credential.id,
      type: 'public-key',
      response: {
        clientDataJSON: b64url(
          clientData(tamper.type ?? 'webauthn.create', tamper.challenge ?? options.challenge, tamper.origin ?? this.origin),
        ),
        attestationObject: b64url(attestationObject),
        transports: ['internal'],
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }

  /** navigator.credentials.get(): an assertion by `credential` (default: the first allowed, else the newest). */
  get(options: PublicKeyCredentialRequestOptionsJSON, tamper: Tamper = {}, credential?: SoftCredential): AuthenticationResponseJSON {
    const allowed = options.allowCredentials?.map((allow) => allow.id);
    const chosen =
      credential ?? this.credentials.find((candidate) => !allowed || allowed.includes(candidate.id)) ?? this.credentials.at(-1);
    if (!chosen) throw new Error('this authenticator holds no credential');
    chosen.counter = tamper.counter ?? chosen.counter + 1;
    const authData = authenticatorData(tamper.rpId ?? chosen.rpId, flagsOf(tamper, chosen.backupEligible), chosen.counter);
    const clientDataJSON = clientData(tamper.type ?? 'webauthn.get', tamper.challenge ?? options.challenge, tamper.origin ?? this.origin);
    const signature = crypto.sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), chosen.privateKey);
    const userHandle = tamper.userHandle === undefined ? chosen.userHandle : tamper.userHandle;
    return {
      id: chosen.id,
      rawId: chosen.id,
      type: 'public-key',
      response: {
        clientDataJSON: b64url(clientDataJSON),
        authenticatorData: b64url(authData),
        signature: b64url(signature),
        ...(userHandle === null ? {} : { userHandle }),
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }
}

/**
 * A passkey for `account` added through the service, as Account settings would: the software
 * authenticator that holds its key, and the passkey stored.
 */
export async function addPasskey(
  world: { services: Services; issuer: string },
  account: Account,
  options: { backupEligible?: boolean; name?: string; where?: RequestContext } = {},
) {
  const authenticator = new SoftAuthenticator(new URL(world.issuer).origin, { backupEligible: options.backupEligible ?? false });
  const session = crypto.randomUUID();
  const created = authenticator.create(await world.services.passkeys.registrationOptions(account, session));
  const { passkey } = await world.services.passkeys.register(
    account,
    session,
    created,
    options.name ?? 'Laptop',
    options.where ?? { ip: '192.0.2.1' },
  );
  return { authenticator, passkey };
}
