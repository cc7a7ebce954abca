import type Router from '@koa/router';
import type { Context } from 'koa';
import type { StoredAuditEvent } from '../../db/repositories/audit.ts';
import type { PageDeps } from '../../interactions/pages.ts';
import type { AdministrationService } from '../service.ts';
import { fields } from '../fields.ts';
import { MAX_PAGE_SIZE } from '../pagination.ts';
import { type ConsoleHelpers, type FieldErrors, queryString, queryText, type Say } from './console.ts';

/** At most this many rows in one download: a bigger trail is narrowed by date. */
export const CSV_ROW_LIMIT = 10_000;

type Filter = { email?: string; school?: string; event?: string; since?: string; until?: string };

/** The filter form as typed, and what the service takes; a bad field is said in words, not applied. */
function readFilter(ctx: Context, say: Say): { typed: Filter; errors: FieldErrors; filter: AuditListFilter } {
  const typed: Filter = {
    email: queryText(ctx.query.email, 254),
    school: queryText(ctx.query.school, 64),
    event: queryText(ctx.query.event, 100),
    since: queryText(ctx.query.since, 10),
    until: queryText(ctx.query.until, 10),
  };
  const errors: FieldErrors = {};
  const date = (value: string | undefined, field: string, endOfDay: boolean) => {
    if (!value) return undefined;
    const parsed = /^\d{4}-\d{2}-\d{2}$/.test(value) ? new Date(`${value}T00:00:00Z`) : new Date(Number.NaN);
    if (Number.isNaN(parsed.getTime())) {
      errors[field] = say('console.fieldErrors.date');
      return undefined;
    }
    return endOfDay ? new Date(parsed.getTime() + 86_400_000) : parsed;
  };
  if (typed.email && !fields.email.safeParse(typed.email).success) errors.email = say('console.fieldErrors.enterEmail');
  if (typed.school && !fields.id.safeParse(typed.school).success) errors.school = say('console.fieldErrors.schoolFromList');
  if (typed.event && !/^[a-z_.-]+$/.test(typed.event)) errors.event = say('console.fieldErrors.event');
  const filter: AuditListFilter = {
    email: errors.email ? undefined : typed.email,
    schoolId: errors.school ? undefined : typed.school,
    event: errors.event ? undefined : typed.event,
    since: date(typed.since, 'since', false),
    until: date(typed.until, 'until', true),
  };
  return { typed, errors, filter };
}

type AuditListFilter = Parameters<AdministrationService['auditTrail']['list']>[1];

/** A spreadsheet must never run a cell as a formula (=, +, -, @ at the start). */
export function csvCell(value: unknown): string {
  const text = value === undefined || value === null ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return `"${safe.replaceAll('"', '""')}"`;
}

const CSV_COLUMNS = ['at', 'event', 'outcome', 'reason', 'email', 'accountId', 'schoolId', 'clientId', 'ip', 'detail'] as const;
const csvLine = (event: StoredAuditEvent) =>
  `${CSV_COLUMNS.map((column) => csvCell(column === 'at' ? event.at.toISOString() : event[column])).join(',')}\r\n`;

/** The audit trail: filters, pages, and a CSV download of what the filters select. */
export function auditPages(router: Router, deps: PageDeps, helpers: ConsoleHelpers) {
  const { services } = deps;
  const { administrator, view, say } = helpers;

  router.get('/admin/audit', async (ctx) => {
    const admin = await administrator(ctx);
    if (!admin) return;
    const { typed, errors, filter } = readFilter(ctx, say(ctx));
    const cursor = queryText(ctx.query.cursor, 2000);
    const [page, schools] = await Promise.all([
      services.admin.auditTrail.list(admin.authority, filter, { cursor }),
      services.admin.staff.listSchools(admin.authority, { limit: MAX_PAGE_SIZE }),
    ]);
    const filterQuery = { ...typed } as Record<string, string | undefined>;
    view(
      ctx,
      admin,
      'admin-audit',
      {
        title: say(ctx)('console.titles.audit'),
        tab: 'audit',
        typed,
        errors,
        schools: schools.items.map((school) => ({ ...school, selected: school.id === typed.school })),
        events: page.items,
        csvLink: `/admin/audit.csv${queryString(filterQuery)}`,
        nextLink: page.nextCursor ? `/admin/audit${queryString({ ...filterQuery, cursor: page.nextCursor })}` : undefined,
        firstLink: cursor ? `/admin/audit${queryString(filterQuery)}` : undefined,
      },
      Object.keys(errors).length > 0 ? 400 : 200,
    );
  });

  router.get('/admin/audit.csv', async (ctx) => {
    const admin = await administrator(ctx);
    if (!admin) return;
    const { filter } = readFilter(ctx, say(ctx));
    let body = `${CSV_COLUMNS.join(',')}\r\n`;
    let cursor: string | undefined;
    let rows = 0;
    do {
      const page = await services.admin.auditTrail.list(admin.authority, filter, { cursor, limit: MAX_PAGE_SIZE });
      for (const event of page.items) body += csvLine(event);
      rows += page.items.length;
      cursor = page.nextCursor ?? undefined;
    } while (cursor && rows < CSV_ROW_LIMIT);
    // Said in a header as well as on the page, for a script that downloads it.
    if (cursor) ctx.set('X-Gatehouse-Truncated', `only the newest ${CSV_ROW_LIMIT} events; narrow the dates for the rest`);
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Content-Disposition', `attachment; filename="gatehouse-audit-${new Date().toISOString().slice(0, 10)}.csv"`);
    ctx.type = 'text/csv; charset=utf-8';
    ctx.body = body;
  });
}
