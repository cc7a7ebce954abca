import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { isDomainError, STATUS_OF_KIND } from '../../domain/errors.ts';
import { forms } from '../../http/forms.ts';
import type { PageDeps } from '../../interactions/pages.ts';
import { fields } from '../fields.ts';
import { type ConsoleHelpers, idOf, queryString, queryText, saidOf, type Say } from './console.ts';
import { importNotice } from './import-pages.ts';

const schoolForm = z.object({ name: fields.text(200), postcode: fields.text(16) });
const memberForm = z.object({
  email: fields.email,
  name: z.preprocess((value) => (value === '' ? undefined : value), fields.text(200).optional()),
  level: fields.level,
});
const levelForm = z.object({ level: fields.level });

/** What the page says after an act (`?done=`): console.notices.staff.<done>. */
const NOTICES = new Set(['added', 'unchanged', 'changed', 'removed', 'invited', 'granted', 'revoked', 'school']);
const noticeOf = (ctx: Context, say: Say) =>
  importNotice(ctx.query, say) ??
  (typeof ctx.query.done === 'string' && NOTICES.has(ctx.query.done) ? say(`console.notices.staff.${ctx.query.done}`) : undefined);

/** Schools and their staff: lists with search and pages, add, change level, remove, resend the email. */
export function staffPages(router: Router, deps: PageDeps, helpers: ConsoleHelpers) {
  const { csrf, services } = deps;
  const { administrator, view, redirect, say, formOf } = helpers;
  const staff = services.admin.staff;

  async function schoolsPage(ctx: Context, errors: Record<string, string> = {}, status = 200) {
    const admin = await administrator(ctx);
    if (!admin) return;
    const search = queryText(ctx.query.search);
    const cursor = queryText(ctx.query.cursor, 2000);
    const page = await staff.listSchools(admin.authority, { search, cursor });
    view(
      ctx,
      admin,
      'admin-schools',
      {
        title: say(ctx)('console.titles.schools'),
        tab: 'schools',
        notice: noticeOf(ctx, say(ctx)),
        search,
        schools: page.items,
        nextLink: page.nextCursor ? `/admin/schools${queryString({ search, cursor: page.nextCursor })}` : undefined,
        firstLink: cursor ? `/admin/schools${queryString({ search })}` : undefined,
        form: ctx.method === 'POST' ? ctx.request.body : {},
        errors,
      },
      status,
    );
  }

  router.get('/admin', (ctx) => ctx.redirect('/admin/schools'));
  router.get('/admin/schools', (ctx) => schoolsPage(ctx));
  router.post('/admin/schools', forms, csrf.verify, async (ctx) => {
    const admin = await administrator(ctx);
    if (!admin) return;
    const form = formOf(ctx, schoolForm);
    if (form.errors) return schoolsPage(ctx, form.errors, 400);
    const school = await staff.addSchool(admin.authority, form.data);
    redirect(ctx, `/admin/schools/${school.id}?done=school`);
  });

  async function schoolPage(ctx: Context, errors: Record<string, string> = {}, status = 200) {
    const admin = await administrator(ctx);
    if (!admin) return;
    const schoolId = idOf(ctx.params.schoolId);
    const school = await staff.getSchool(admin.authority, schoolId);
    const search = queryText(ctx.query.search);
    const cursor = queryText(ctx.query.cursor, 2000);
    const page = await staff.listMembers(admin.authority, schoolId, { search, cursor });
    const base = `/admin/schools/${schoolId}`;
    view(
      ctx,
      admin,
      'admin-school',
      {
        title: school.name,
        tab: 'schools',
        notice: noticeOf(ctx, say(ctx)),
        school,
        search,
        members: page.items,
        nextLink: page.nextCursor ? `${base}${queryString({ search, cursor: page.nextCursor })}` : undefined,
        firstLink: cursor ? `${base}${queryString({ search })}` : undefined,
        form: ctx.method === 'POST' ? ctx.request.body : { level: 'basic' },
        errors,
      },
      status,
    );
  }

  router.get('/admin/schools/:schoolId', (ctx) => schoolPage(ctx));
  router.post('/admin/schools/:schoolId/members', forms, csrf.verify, async (ctx) => {
    const admin = await administrator(ctx);
    if (!admin) return;
    const schoolId = idOf(ctx.params.schoolId);
    const form = formOf(ctx, memberForm);
    if (form.errors) return schoolPage(ctx, form.errors, 400);
    const outcome = await staff.addMember(admin.authority, schoolId, { ...form.data, invite: true });
    redirect(ctx, `/admin/schools/${schoolId}/members/${outcome.member.accountId}?done=${outcome.result}`);
  });

  async function memberPage(ctx: Context, errors: Record<string, string> = {}, status = 200) {
    const admin = await administrator(ctx);
    if (!admin) return;
    const schoolId = idOf(ctx.params.schoolId);
    const accountId = idOf(ctx.params.accountId);
    const [school, member, schoolAdmin] = await Promise.all([
      staff.getSchool(admin.authority, schoolId),
      staff.getMember(admin.authority, schoolId, accountId),
      admin.authority.helpdesk ? services.admin.roles.schoolAdminGrant(admin.authority, accountId, schoolId) : null,
    ]);
    view(
      ctx,
      admin,
      'admin-member',
      {
        schoolAdminRoleId: schoolAdmin?.id,
        title: member.name ?? member.email,
        tab: 'schools',
        notice: noticeOf(ctx, say(ctx)),
        school,
        member,
        higher: member.accessLevel === 'higher',
        errors,
      },
      status,
    );
  }

  const memberPath = (ctx: Context) => `/admin/schools/${idOf(ctx.params.schoolId)}/members/${idOf(ctx.params.accountId)}`;

  router.get('/admin/schools/:schoolId/members/:accountId', (ctx) => memberPage(ctx));
  router.post('/admin/schools/:schoolId/members/:accountId/level', forms, csrf.verify, async (ctx) => {
    const admin = await administrator(ctx);
    if (!admin) return;
    const form = formOf(ctx, levelForm);
    if (form.errors) return memberPage(ctx, form.errors, 400);
    await staff.changeLevel(admin.authority, idOf(ctx.params.schoolId), idOf(ctx.params.accountId), form.data.level);
    redirect(ctx, `${memberPath(ctx)}?done=changed`);
  });
  router.post('/admin/schools/:schoolId/members/:accountId/invite', forms, csrf.verify, async (ctx) => {
    const admin = await administrator(ctx);
    if (!admin) return;
    try {
      await staff.inviteMember(admin.authority, idOf(ctx.params.schoolId), idOf(ctx.params.accountId));
    } catch (error) {
      if (isDomainError(error) && (error.kind === 'rate_limited' || error.kind === 'conflict'))
        return memberPage(ctx, { invite: saidOf(say(ctx), error) }, STATUS_OF_KIND[error.kind]);
      throw error;
    }
    redirect(ctx, `${memberPath(ctx)}?done=invited`);
  });
  router.get('/admin/schools/:schoolId/members/:accountId/remove', async (ctx) => {
    const admin = await administrator(ctx);
    if (!admin) return;
    const schoolId = idOf(ctx.params.schoolId);
    const [school, member] = await Promise.all([
      staff.getSchool(admin.authority, schoolId),
      staff.getMember(admin.authority, schoolId, idOf(ctx.params.accountId)),
    ]);
    view(ctx, admin, 'admin-remove-member', { title: say(ctx)('console.titles.remove'), tab: 'schools', school, member });
  });
  router.post('/admin/schools/:schoolId/members/:accountId/remove', forms, csrf.verify, async (ctx) => {
    const admin = await administrator(ctx);
    if (!admin) return;
    const schoolId = idOf(ctx.params.schoolId);
    await staff.removeMember(admin.authority, schoolId, idOf(ctx.params.accountId));
    redirect(ctx, `/admin/schools/${schoolId}?done=removed`);
  });
}
