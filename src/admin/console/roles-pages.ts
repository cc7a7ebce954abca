import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { isDomainError } from '../../domain/errors.ts';
import { forms } from '../../http/forms.ts';
import type { PageDeps } from '../../interactions/pages.ts';
import { fields } from '../fields.ts';
import { type ConsoleHelpers, NOT_FOUND, queryString, queryText } from './console.ts';

const helpdeskForm = z.object({ email: fields.email });
const revokeForm = z.object({
  id: fields.id,
  next: z
    .string()
    .regex(/^\/admin\/[\w/-]*$/)
    .optional(),
});

/** What the page says after an act (`?done=`): console.notices.roles.<done>. */
const NOTICES = new Set(['granted', 'revoked']);

/** Roles, for the helpdesk: who holds which, give the helpdesk role, make or unmake a school administrator, revoke. */
export function rolesPages(router: Router, deps: PageDeps, helpers: ConsoleHelpers) {
  const { csrf, services } = deps;
  const { administrator, view, redirect, say, formOf } = helpers;
  const roles = services.admin.roles;

  async function rolesPage(ctx: Context, errors: Record<string, string> = {}, status = 200) {
    const admin = await administrator(ctx);
    if (!admin) return;
    const cursor = queryText(ctx.query.cursor, 2000);
    const page = await roles.list(admin.authority, { cursor });
    view(
      ctx,
      admin,
      'admin-roles',
      {
        title: say(ctx)('console.titles.roles'),
        tab: 'roles',
        notice:
          typeof ctx.query.done === 'string' && NOTICES.has(ctx.query.done)
            ? say(ctx)(`console.notices.roles.${ctx.query.done}`)
            : undefined,
        roles: page.items,
        nextLink: page.nextCursor ? `/admin/roles${queryString({ cursor: page.nextCursor })}` : undefined,
        firstLink: cursor ? '/admin/roles' : undefined,
        form: ctx.method === 'POST' ? ctx.request.body : {},
        errors,
      },
      status,
    );
  }

  router.get('/admin/roles', (ctx) => rolesPage(ctx));
  router.post('/admin/roles', forms, csrf.verify, async (ctx) => {
    const admin = await administrator(ctx);
    if (!admin) return;
    const form = formOf(ctx, helpdeskForm);
    if (form.errors) return rolesPage(ctx, form.errors, 400);
    try {
      await roles.grant(admin.authority, { subject: { email: form.data.email }, role: 'helpdesk' });
    } catch (error) {
      if (isDomainError(error) && error.kind === 'not_found') return rolesPage(ctx, { email: say(ctx)('console.roles.noAccount') }, 404);
      throw error;
    }
    redirect(ctx, '/admin/roles?done=granted');
  });

  router.post('/admin/roles/revoke', forms, csrf.verify, async (ctx) => {
    const admin = await administrator(ctx);
    if (!admin) return;
    const form = formOf(ctx, revokeForm);
    if (form.errors) throw NOT_FOUND;
    await roles.revokeById(admin.authority, form.data.id);
    redirect(ctx, `${form.data.next ?? '/admin/roles'}?done=revoked`);
  });

  router.post('/admin/schools/:schoolId/members/:accountId/school-admin', forms, csrf.verify, async (ctx) => {
    const admin = await administrator(ctx);
    if (!admin) return;
    const schoolId = fields.id.safeParse(ctx.params.schoolId);
    const accountId = fields.id.safeParse(ctx.params.accountId);
    if (!schoolId.success || !accountId.success) throw NOT_FOUND;
    const member = await services.admin.staff.getMember(admin.authority, schoolId.data, accountId.data);
    await roles.grant(admin.authority, { subject: { email: member.email }, role: 'school-admin', schoolId: schoolId.data });
    redirect(ctx, `/admin/schools/${schoolId.data}/members/${accountId.data}?done=granted`);
  });
}
