import type { AuditService } from '../domain/audit.ts';
import type { ClientService, NewClient } from '../domain/clients.ts';
import { act } from './acting.ts';
import { type Authority, requireHelpdesk } from './authority.ts';

export type ClientsDeps = {
  audit: AuditService;
  clients: ClientService;
  keys: { rotate(): Promise<unknown[]>; activate(): Promise<unknown[] | null>; list(): Promise<unknown[]> };
  initialAccessToken(days: number): Promise<string>;
};

/** School systems, machine clients, signing keys and registration tokens: the helpdesk's alone. */
export class ClientsAdministration {
  private readonly deps: ClientsDeps;

  constructor(deps: ClientsDeps) {
    this.deps = deps;
  }

  add(authority: Authority, input: NewClient): Promise<{ clientId: string; clientSecret: string }> {
    const detail = { name: input.name, schools: input.schoolIds, machine: Boolean(input.machine), apiRole: input.apiRole };
    return this.helpdeskAct(
      authority,
      'client.add',
      detail,
      () => this.deps.clients.add(input),
      ({ clientId }) => ({ clientId }),
    );
  }

  link(authority: Authority, clientId: string, schoolIds: string[]): Promise<void> {
    return this.helpdeskAct(authority, 'client.link', { clientId, schools: schoolIds }, () => this.deps.clients.link(clientId, schoolIds));
  }

  issueInitialAccessToken(authority: Authority, days: number): Promise<string> {
    return this.helpdeskAct(authority, 'token.initial-access', { expiresInDays: days }, () => this.deps.initialAccessToken(days));
  }

  rotateKeys(authority: Authority) {
    return this.helpdeskAct(authority, 'keys.rotate', {}, () => this.deps.keys.rotate());
  }

  activateKey(authority: Authority) {
    return this.helpdeskAct(authority, 'keys.activate', {}, () => this.deps.keys.activate());
  }

  async listKeys(authority: Authority) {
    requireHelpdesk(authority);
    return this.deps.keys.list();
  }

  private helpdeskAct<T>(
    authority: Authority,
    event: string,
    detail: Record<string, unknown>,
    work: () => Promise<T>,
    outcomeDetail?: (result: T) => Record<string, unknown>,
  ): Promise<T> {
    return act(
      this.deps.audit,
      authority,
      event,
      { detail },
      async () => {
        requireHelpdesk(authority);
        return work();
      },
      outcomeDetail,
    );
  }
}
