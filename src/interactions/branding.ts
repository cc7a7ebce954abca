import type { AccessService } from '../domain/access.ts';
import { ACCOUNT_CLIENT_ID } from '../oidc/policy.ts';
import { clientIdParam } from './schemas.ts';

/** A client id Gatehouse could have issued, other than Account settings' own: anything else names no school system. */
const schoolSystemIdOf = (clientId: unknown): string | undefined =>
  clientIdParam.safeParse(clientId).success && clientId !== ACCOUNT_CLIENT_ID ? (clientId as string) : undefined;

/**
 * The school of a school system, as the helpdesk linked it: the header of its pages and the
 * sender of its mails. Never the client's own `client_name`, which whoever registered it chose
 * (dynamic registration) and could make any school's: a system serving several schools, or none
 * yet, has none (the service's name applies).
 */
export async function schoolNameOfClient(access: AccessService, clientId: unknown): Promise<string | undefined> {
  const id = schoolSystemIdOf(clientId);
  return id ? ((await access.clientSchoolsName(id)) ?? undefined) : undefined;
}

/** "Manage your account": Account settings, told which school system the person came from (it shows that school). */
export function manageAccountLink(clientId: unknown): string {
  const id = schoolSystemIdOf(clientId);
  return id ? `/account?${new URLSearchParams({ client_id: id })}` : '/account';
}
