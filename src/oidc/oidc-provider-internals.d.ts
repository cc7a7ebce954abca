// oidc-provider ships no types for its internals; this is the one Gatehouse calls (live-keys.ts).
declare module 'oidc-provider/lib/helpers/initialize_keystore.js' {
  import type Provider from 'oidc-provider';
  import type { JWK } from 'oidc-provider';
  export default function initializeKeystore(this: Provider, jwks: { keys: JWK[] }): void;
}
