import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { School } from '../../db/entities/index.ts';
import { isDomainError } from '../../domain/errors.ts';
import { forms } from '../../http/forms.ts';
import { PageError } from '../../http/page-error.ts';
import { BAD_FORM, type PageDeps } from '../../interactions/pages.ts';
import { clientIdParam } from '../../interactions/schemas.ts';
import type { RegisteredClient } from '../clients.ts';
import { fields } from '../fields.ts';
import { type Administrator, type ConsoleHelpers, type FieldErrors, queryString, queryText, type Say, saidOf } from './console.ts';

const NOT_FOUND = new PageError(404, 'clientNotFound');

/** Client ids are ours (gh_…) or oidc-provider's (dynamic registration): URL-safe characters only. */
const clientIdOf = (value: unknown) => {
  const parsed = clientIdParam.safeParse(value);
  if (!parsed.success) throw NOT_FOUND;
  return parsed.data;
};

/** Schools offered in a form's list; any other is given by its id. */
const SCHOOLS_OFFERED = 200;

const blankToUndefined = (value: unknown) => (value === '' ? undefined : value);
const uri = fields.text(2000);
const optionalUri = z.preprocess(blankToUndefined, uri.optional());
/** A textarea of addresses, one a line. */
const uriLines = z.preprocess(
  (value) =>
    typeof value === 'string'
      ? value
          .split(/\r?\n/)
          .map((line) => line.trim())
          .filter(Boolean)
      : value,
  z.array(uri, 'must be addresses, one a line').min(1, 'must have at least one address').max(20, 'must be at most 20 addresses'),
);
/** Schools picked in a multiple select: absent, one value, or several. */
const chosenSchools = z.preprocess(
  (value) => (value === undefined || value === '' ? [] : Array.isArray(value) ? value : [value]),
  z.array(fields.id, 'must be schools from the list').max(SCHOOLS_OFFERED),
);
/** School ids typed in, separated by spaces, commas or new lines. */
const typedSchools = z.preprocess(
  (value) => (typeof value === 'string' ? value.split(/[\s,]+/).filter(Boolean) : value === undefined ? [] : value),
  z.array(z.uuid('must be school ids (each a UUID, as shown on the school’s page address)'), 'must be school ids').max(50),
);

const schoolsOf = (form: { schoolIds: string[]; schoolIdText: string[] }) => [...new Set([...form.schoolIds, ...form.schoolIdText])];

const systemForm = z
  .object({
    name: fields.text(200),
    redirectUris: uriLines,
    postLogoutRedirectUris: optionalUri,
    initiateLoginUri: optionalUri,
    backchannelLogoutUri: optionalUri,
    schoolIds: chosenSchools,
    schoolIdText: typedSchools,
  })
  .refine((form) => schoolsOf(form).length > 0, { path: ['schoolIds'], message: 'Choose at least one school, or give its id' });

const machineForm = z
  .object({
    name: fields.text(200),
    apiRole: z.preprocess(blankToUndefined, fields.role.optional()),
    schoolIds: chosenSchools,
    schoolIdText: typedSchools,
  })
  .refine((form) => form.apiRole !== 'school-admin' || schoolsOf(form).length > 0, {
    path: ['schoolIds'],
    message: 'A school administrator API client needs the schools it administers: choose at least one',
  });

const linkForm = z
  .object({ schoolIds: chosenSchools, schoolIdText: typedSchools })
  .refine((form) => schoolsOf(form).length > 0, { path: ['schoolIds'], message: 'Choose a school, or give its id' });

type FormKind = 'system' | 'machine';

/** What the page says after an act (`?done=`): console.notices.clients.<done>. */
const NOTICES = new Set(['linked', 'unlinked']);
const noticeOf = (ctx: Context, say: Say) =>
  typeof ctx.query.done === 'string' && NOTICES.has(ctx.query.done) ? say(`console.notices.clients.${ctx.query.done}`) : undefined;

/** A domain refusal of a form's input, as errors next to its fields; anything else is not a form problem. */
function formErrorsOf(error: unknown, say: Say): FieldErrors | null {
  if (!isDomainError(error)) return null;
  if (error.kind === 'validation') return { [error.field ?? 'form']: saidOf(say, error) };
  // The only thing a form names that may not exist is a school.
  if (error.kind === 'not_found') return { schoolIds: saidOf(say, error) };
  return null;
}

/** What a client's API role means, in words. */
function apiRoleOf(client: RegisteredClient, say: Say): string | undefined {
  if (client.apiRoles.some((role) => role.role === 'helpdesk')) return say('console.clients.roleHelpdesk');
  const schools = client.apiRoles
    .filter((role) => role.role === 'school-admin')
    .map((role) => client.schools.find((school) => school.id === role.schoolId)?.name ?? role.schoolId);
  return schools.length > 0 ? say('console.clients.roleSchoolAdminOf', { schools: schools.join(', ') }) : undefined;
}

const presented = (client: RegisteredClient, say: Say) => ({ ...client, apiRole: apiRoleOf(client, say) });

/** Clients, for the helpdesk: the list with search and pages, add a school system or a machine client, link schools, a new secret. */
export function clientPages(router: Router, deps: PageDeps, helpers: ConsoleHelpers) {
  const { csrf, services } = deps;
  const { administrator, view, redirect, say, formOf } = helpers;
  const clients = services.admin.clients;

  /** The first schools by name, each marked if the form chose it. */
  async function schoolChoices(admin: Administrator, chosen: unknown, except: ReadonlySet<string> = new Set()) {
    const page = await services.admin.staff.listSchools(admin.authority, { limit: SCHOOLS_OFFERED });
    const picked = new Set(Array.isArray(chosen) ? chosen : [chosen]);
    return {
      schools: page.items
        .filter((school: School) => !except.has(school.id))
        .map((school: School) => ({ id: school.id, name: school.name, postcode: school.postcode, selected: picked.has(school.id) })),
      moreSchools: page.nextCursor !== null,
    };
  }

  async function clientsPage(ctx: Context, failed?: { kind: FormKind; errors: FieldErrors }) {
    const admin = await administrator(ctx);
    if (!admin) return;
    const search = queryText(ctx.query.search);
    const cursor = queryText(ctx.query.cursor, 2000);
    // The list first: a school administrator is refused here, before anything else is read.
    const page = await clients.list(admin.authority, { search, cursor });
    const body = (failed ? ctx.request.body : {}) as Record<string, unknown>;
    const { schools: systemSchools, moreSchools } = await schoolChoices(admin, failed?.kind === 'system' ? body.schoolIds : undefined);
    const { schools: machineSchools } = await schoolChoices(admin, failed?.kind === 'machine' ? body.schoolIds : undefined);
    view(
      ctx,
      admin,
      'admin-clients',
      {
        title: say(ctx)('console.titles.clients'),
        tab: 'clients',
        notice: noticeOf(ctx, say(ctx)),
        search,
        clients: page.items.map((client) => presented(client, say(ctx))),
        nextLink: page.nextCursor ? `/admin/clients${queryString({ search, cursor: page.nextCursor })}` : undefined,
        firstLink: cursor ? `/admin/clients${queryString({ search })}` : undefined,
        systemSchools,
        machineSchools,
        moreSchools,
        system: failed?.kind === 'system' ? { form: body, errors: failed.errors } : { form: {}, errors: {} },
        machine: failed?.kind === 'machine' ? { form: body, errors: failed.errors } : { form: {}, errors: {} },
      },
      failed ? 400 : 200,
    );
  }

  router.get('/admin/clients', (ctx) => clientsPage(ctx));
  router.post('/admin/clients', forms, csrf.verify, async (ctx) => {
    const admin = await administrator(ctx);
    if (!admin) return;
    const body = ctx.request.body as Record<string, unknown> | undefined;
    const kind = body?.kind;
    if (kind !== 'system' && kind !== 'machine') throw BAD_FORM;
    let created: { clientId: string; clientSecret: string };
    try {
      if (kind === 'system') {
        const form = formOf(ctx, systemForm, body);
        if (form.errors) return clientsPage(ctx, { kind, errors: form.errors });
        const { schoolIds, schoolIdText, postLogoutRedirectUris, ...rest } = form.data;
        created = await clients.add(admin.authority, {
          ...rest,
          schoolIds: schoolsOf({ schoolIds, schoolIdText }),
          postLogoutRedirectUris: postLogoutRedirectUris ? [postLogoutRedirectUris] : undefined,
        });
      } else {
        const form = formOf(ctx, machineForm, body);
        if (form.errors) return clientsPage(ctx, { kind, errors: form.errors });
        created = await clients.add(admin.authority, {
          name: form.data.name,
          machine: true,
          redirectUris: [],
          apiRole: form.data.apiRole,
          schoolIds: schoolsOf(form.data),
        });
      }
    } catch (error) {
      const errors = formErrorsOf(error, say(ctx));
      if (errors) return clientsPage(ctx, { kind, errors });
      throw error;
    }
    const client = await clients.get(admin.authority, created.clientId);
    view(ctx, admin, 'admin-client-secret', {
      title: say(ctx)('console.titles.clientAdded'),
      tab: 'clients',
      created: true,
      client: presented(client, say(ctx)),
      clientSecret: created.clientSecret,
    });
  });

  async function clientPage(ctx: Context, errors: FieldErrors = {}, status = 200) {
    const admin = await administrator(ctx);
    if (!admin) return;
    const client = await clients.get(admin.authority, clientIdOf(ctx.params.clientId));
    const choices = await schoolChoices(
      admin,
      status === 200 ? undefined : (ctx.request.body as Record<string, unknown> | undefined)?.schoolIds,
      new Set(client.schools.map((school) => school.id)),
    );
    view(
      ctx,
      admin,
      'admin-client',
      {
        title: client.name || client.clientId,
        tab: 'clients',
        notice: noticeOf(ctx, say(ctx)),
        client: presented(client, say(ctx)),
        ...choices,
        form: status === 200 ? {} : ctx.request.body,
        errors,
      },
      status,
    );
  }

  router.get('/admin/clients/:clientId', (ctx) => clientPage(ctx));
  router.post('/admin/clients/:clientId/schools', forms, csrf.verify, async (ctx) => {
    const admin = await administrator(ctx);
    if (!admin) return;
    const clientId = clientIdOf(ctx.params.clientId);
    const form = formOf(ctx, linkForm);
    if (form.errors) return clientPage(ctx, form.errors, 400);
    // The client first: an unknown client is a missing page; after that, only a school can be missing.
    await clients.get(admin.authority, clientId);
    try {
      await clients.link(admin.authority, clientId, schoolsOf(form.data));
    } catch (error) {
      if (isDomainError(error) && error.kind === 'not_found') return clientPage(ctx, { schoolIds: saidOf(say(ctx), error) }, 400);
      throw error;
    }
    redirect(ctx, `/admin/clients/${encodeURIComponent(clientId)}?done=linked`);
  });
  router.post('/admin/clients/:clientId/schools/:schoolId/unlink', forms, csrf.verify, async (ctx) => {
    const admin = await administrator(ctx);
    if (!admin) return;
    const clientId = clientIdOf(ctx.params.clientId);
    const schoolId = fields.id.safeParse(ctx.params.schoolId);
    if (!schoolId.success) throw NOT_FOUND;
    await clients.unlink(admin.authority, clientId, schoolId.data);
    redirect(ctx, `/admin/clients/${encodeURIComponent(clientId)}?done=unlinked`);
  });

  router.get('/admin/clients/:clientId/secret', async (ctx) => {
    const admin = await administrator(ctx);
    if (!admin) return;
    const client = await clients.get(admin.authority, clientIdOf(ctx.params.clientId));
    view(ctx, admin, 'admin-client-secret', {
      title: say(ctx)('console.titles.newSecret'),
      tab: 'clients',
      confirm: true,
      client: presented(client, say(ctx)),
    });
  });
  router.post('/admin/clients/:clientId/secret', forms, csrf.verify, async (ctx) => {
    const admin = await administrator(ctx);
    if (!admin) return;
    const clientId = clientIdOf(ctx.params.clientId);
    const { clientSecret } = await clients.newSecret(admin.authority, clientId);
    const client = await clients.get(admin.authority, clientId);
    view(ctx, admin, 'admin-client-secret', {
      title: say(ctx)('console.titles.newSecret'),
      tab: 'clients',
      renewed: true,
      client: presented(client, say(ctx)),
      clientSecret,
    });
  });
}
