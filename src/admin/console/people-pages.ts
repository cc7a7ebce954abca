import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { forms } from '../../http/forms.ts';
import { PageError } from '../../http/page-error.ts';
import type { PageDeps } from '../../interactions/pages.ts';
import { fields } from '../fields.ts';
import { type ConsoleHelpers, queryText } from './console.ts';

const NOT_FOUND = new PageError(404, 'personNotFound');
const reasonForm = z.object({ reason: z.preprocess((value) => (value === '' ? undefined : value), fields.text(500).optional()) });
const resetForm = z.object({ reason: fields.text(500) });

/** Each act on a person: what it runs, and its notice (console.notices.person.<notice>). */
const ACTIONS = {
  lock: { notice: 'lock', run: 'lock' },
  unlock: { notice: 'unlock', run: 'unlock' },
  'mfa-reset': { notice: 'mfaReset', run: 'resetAuthenticators' },
} as const;

/** People: find by email, a person's page, and the helpdesk's lock, unlock and authenticator reset. */
export function peoplePages(router: Router, deps: PageDeps, helpers: ConsoleHelpers) {
  const { csrf, services } = deps;
  const { administrator, view, redirect, say, formOf } = helpers;
  const people = services.admin.people;

  router.get('/admin/people', async (ctx) => {
    const admin = await administrator(ctx);
    if (!admin) return;
    const typed = queryText(ctx.query.email, 254);
    const email = typed === undefined ? undefined : fields.email.safeParse(typed);
    if (email?.success) {
      const person = await people.findByEmail(admin.authority, email.data);
      if (person) return redirect(ctx, `/admin/people/${person.id}`);
    }
    const error =
      typed === undefined
        ? undefined
        : email?.success
          ? say(ctx)('console.people.noOne', { email: typed })
          : say(ctx)('console.fieldErrors.enterEmail');
    view(ctx, admin, 'admin-people', { title: say(ctx)('console.titles.people'), tab: 'people', email: typed, error }, error ? 404 : 200);
  });

  async function personPage(ctx: Context, errors: Record<string, string> = {}, status = 200) {
    const admin = await administrator(ctx);
    if (!admin) return;
    const accountId = fields.id.safeParse(ctx.params.accountId);
    if (!accountId.success) throw NOT_FOUND;
    const person = await people.get(admin.authority, accountId.data);
    const done =
      typeof ctx.query.done === 'string' && Object.hasOwn(ACTIONS, ctx.query.done)
        ? say(ctx)(`console.notices.person.${ACTIONS[ctx.query.done as keyof typeof ACTIONS].notice}`)
        : undefined;
    view(ctx, admin, 'admin-person', { title: person.name ?? person.email, tab: 'people', notice: done, person, errors }, status);
  }

  router.get('/admin/people/:accountId', (ctx) => personPage(ctx));
  router.post('/admin/people/:accountId/:action', forms, csrf.verify, async (ctx) => {
    const admin = await administrator(ctx);
    if (!admin) return;
    const action = ACTIONS[ctx.params.action as keyof typeof ACTIONS];
    const accountId = fields.id.safeParse(ctx.params.accountId);
    if (!action || !Object.hasOwn(ACTIONS, ctx.params.action!) || !accountId.success) throw NOT_FOUND;
    // Removing a person's authenticators needs a reason: it is mailed to them.
    const form = formOf(ctx, ctx.params.action === 'mfa-reset' ? resetForm : reasonForm);
    if (form.errors)
      return personPage(ctx, { [`${ctx.params.action}-reason`]: form.errors.reason ?? say(ctx)('console.fieldErrors.checkForm') }, 400);
    await people[action.run](admin.authority, accountId.data, form.data.reason);
    redirect(ctx, `/admin/people/${accountId.data}?done=${ctx.params.action}`);
  });
}
