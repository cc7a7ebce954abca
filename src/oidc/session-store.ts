import type { AdapterPayload } from 'oidc-provider';
import type Provider from 'oidc-provider';

type Session = InstanceType<Provider['Session']>;
/** What src/oidc/adapter.ts adds to oidc-provider's adapter contract. */
type UpdatingAdapter = { updateExisting(id: string, payload: AdapterPayload, expiresIn: number): Promise<boolean> };
/** oidc-provider's own serialisation of a model (BaseModel#getValueAndPayload), so the payload is the one it would save. */
type Serialisable = { getValueAndPayload(): Promise<{ payload: AdapterPayload }> };

/**
 * Saves a session that Gatehouse loaded earlier in this request, for `seconds` from now, only if
 * its row still exists; false when it does not (the session was ended meanwhile). `session.save`
 * would insert it again and undo a revocation that happened while the request ran.
 */
export async function saveExistingSession(session: Session, seconds: number): Promise<boolean> {
  if (!session.jti) return false;
  session.exp = Math.floor(Date.now() / 1000) + seconds;
  const { payload } = await (session as unknown as Serialisable).getValueAndPayload();
  return (session.adapter as unknown as UpdatingAdapter).updateExisting(session.jti, payload, seconds);
}
