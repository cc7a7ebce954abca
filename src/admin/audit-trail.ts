import type { AuditFilter, StoredAuditEvent } from '../db/repositories/audit.ts';
import type { Repositories } from '../db/repositories/index.ts';
import { type Authority, requireAdministrator, requireSchool, schoolScope } from './authority.ts';
import { type Page, type PageRequest, pageOf } from './pagination.ts';

/** Reading the trail: the helpdesk all of it, a school administrator their schools' events only. */
export class AuditTrailAdministration {
  private readonly repositories: Repositories;

  constructor(repositories: Repositories) {
    this.repositories = repositories;
  }

  async list(
    authority: Authority,
    filter: Omit<AuditFilter, 'schoolIds'>,
    request: PageRequest,
  ): Promise<Page<StoredAuditEvent & { id: string }>> {
    requireAdministrator(authority);
    if (filter.schoolId) requireSchool(authority, filter.schoolId);
    const account = filter.email ? await this.repositories.accounts.findByEmail(filter.email) : null;
    return pageOf(
      request,
      ['timestamp', 'serial'],
      (after, limit) =>
        this.repositories.audit.page(
          { ...filter, schoolIds: schoolScope(authority), accountId: account?.id ?? null },
          { after: after as [string, string] | null, limit },
        ),
      (row) => row.cursor,
      ({ cursor: _cursor, ...event }) => event as StoredAuditEvent & { id: string },
    );
  }
}
