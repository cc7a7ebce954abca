import type { RegisteredClient } from '../db/repositories/clients.ts';
import type { Repositories } from '../db/repositories/index.ts';
import type { AuditService } from '../domain/audit.ts';
import type { ClientService, NewClient } from '../domain/clients.ts';
import { act } from './acting.ts';
import { type Authority, refusal, requireHelpdesk } from './authority.ts';
import { type Page, type PageRequest, pageOf } from './pagination.ts';

export type { RegisteredClient } from '../db/repositories/clients.ts';

export type ClientsDeps = {
  repositories: Repositories;
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

  /** Every registered client (added here or registered dynamically), by name; never a secret. */
  async list(authority: Authority, request: PageRequest & { search?: string | undefined }): Promise<Page<RegisteredClient>> {
    requireHelpdesk(authority);
    return pageOf(
      request,
      ['text', 'text'],
      (after, limit) => this.deps.repositories.clients.page({ search: request.search, after: after as [string, string] | null, limit }),
      (row) => row.cursor,
      ({ cursor: _cursor, ...client }) => client,
    );
  }

  async get(authority: Authority, clientId: string): Promise<RegisteredClient> {
    requireHelpdesk(authority);
    const client = await this.deps.repositories.clients.find(clientId);
    if (!client) throw refusal('not_found', `No client has the id ${clientId}.`, 'noClient', { clientId });
    return client;
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

  unlink(authority: Authority, clientId: string, schoolId: string): Promise<void> {
    return this.helpdeskAct(authority, 'client.unlink', { clientId, school: schoolId }, () => this.deps.clients.unlink(clientId, schoolId));
  }

  /** A new secret, shown once: the old one stops working at once. The audit event names the client, never the secret. */
  newSecret(authority: Authority, clientId: string): Promise<{ clientId: string; clientSecret: string }> {
    return this.helpdeskAct(authority, 'client.secret', { clientId }, async () => ({
      clientId,
      ...(await this.deps.clients.newSecret(clientId)),
    }));
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
