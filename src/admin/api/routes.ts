import type { z } from 'zod';
import type { AdministrationService } from '../service.ts';
import type { Authority } from '../authority.ts';
import { present } from './present.ts';
import { bodies, params, queries, responses } from './schemas.ts';

type Schema = z.ZodType;
type Input<P extends Schema, Q extends Schema, B extends Schema> = { params: z.infer<P>; query: z.infer<Q>; body: z.infer<B> };
export type Answer = { status: number; body?: unknown };

/** One operation of the API: its documentation, its schemas and its handler, in one place. */
export type ApiRoute = {
  method: 'get' | 'post' | 'patch' | 'delete';
  /** OpenAPI form: /schools/{schoolId}. */
  path: string;
  summary: string;
  /** Who may call it, for the documentation; the service enforces it. */
  who: 'administrators' | 'helpdesk';
  params: Schema;
  query: Schema;
  body: Schema;
  /** Status -> response schema, for the documentation. */
  responses: Record<number, Schema>;
  /** Problem statuses particular to this operation, beyond those every operation may answer. */
  problems?: Record<number, string>;
  handle(admin: AdministrationService, authority: Authority, input: Input<Schema, Schema, Schema>): Promise<Answer>;
};

function route<P extends Schema, Q extends Schema, B extends Schema>(
  definition: Omit<ApiRoute, 'params' | 'query' | 'body' | 'handle'> & {
    params: P;
    query: Q;
    body: B;
    handle(admin: AdministrationService, authority: Authority, input: Input<P, Q, B>): Promise<Answer>;
  },
): ApiRoute {
  return definition as unknown as ApiRoute;
}

const ok = (body: unknown): Answer => ({ status: 200, body });
const noParams = queries.none;

export const API_ROUTES: ApiRoute[] = [
  route({
    method: 'get',
    path: '/schools',
    summary: 'Schools the caller administers (the helpdesk: every school), by name',
    who: 'administrators',
    params: noParams,
    query: queries.list,
    body: bodies.none,
    responses: { 200: responses.schools },
    handle: async (admin, authority, { query }) => ok(present.page(await admin.staff.listSchools(authority, query), present.school)),
  }),
  route({
    method: 'post',
    path: '/schools',
    summary: 'Add a school',
    who: 'helpdesk',
    params: noParams,
    query: noParams,
    body: bodies.newSchool,
    responses: { 201: responses.school },
    handle: async (admin, authority, { body }) => ({ status: 201, body: present.school(await admin.staff.addSchool(authority, body)) }),
  }),
  route({
    method: 'get',
    path: '/schools/{schoolId}',
    summary: 'One school',
    who: 'administrators',
    params: params.school,
    query: noParams,
    body: bodies.none,
    responses: { 200: responses.school },
    handle: async (admin, authority, { params }) => ok(present.school(await admin.staff.getSchool(authority, params.schoolId))),
  }),
  route({
    method: 'get',
    path: '/schools/{schoolId}/members',
    summary: "A school's staff, by email address",
    who: 'administrators',
    params: params.school,
    query: queries.list,
    body: bodies.none,
    responses: { 200: responses.members },
    handle: async (admin, authority, { params, query }) =>
      ok(present.page(await admin.staff.listMembers(authority, params.schoolId, query), present.member)),
  }),
  route({
    method: 'post',
    path: '/schools/{schoolId}/members',
    summary: 'Add a member of staff (creates the account when the address is new); the same request again changes nothing',
    who: 'administrators',
    params: params.school,
    query: noParams,
    body: bodies.newMember,
    responses: { 201: responses.memberAdded, 200: responses.memberAdded },
    handle: async (admin, authority, { params, body }) => {
      const outcome = await admin.staff.addMember(authority, params.schoolId, body);
      return { status: outcome.result === 'added' ? 201 : 200, body: present.memberAdded(outcome) };
    },
  }),
  route({
    method: 'get',
    path: '/schools/{schoolId}/members/{accountId}',
    summary: 'One member of staff',
    who: 'administrators',
    params: params.member,
    query: noParams,
    body: bodies.none,
    responses: { 200: responses.member },
    handle: async (admin, authority, { params }) =>
      ok(present.member(await admin.staff.getMember(authority, params.schoolId, params.accountId))),
  }),
  route({
    method: 'patch',
    path: '/schools/{schoolId}/members/{accountId}',
    summary: "Change a member's access level",
    who: 'administrators',
    params: params.member,
    query: noParams,
    body: bodies.level,
    responses: { 200: responses.member },
    handle: async (admin, authority, { params, body }) =>
      ok(present.member(await admin.staff.changeLevel(authority, params.schoolId, params.accountId, body.level))),
  }),
  route({
    method: 'delete',
    path: '/schools/{schoolId}/members/{accountId}',
    summary: "Remove a leaver: this school's sign-ins and tokens end at once; other schools' stay",
    who: 'administrators',
    params: params.member,
    query: noParams,
    body: bodies.none,
    responses: { 200: responses.removed },
    handle: async (admin, authority, { params }) => {
      const { revokedGrants, revokedRole } = await admin.staff.removeMember(authority, params.schoolId, params.accountId);
      return ok({ revoked_grants: revokedGrants, revoked_role: revokedRole });
    },
  }),
  route({
    method: 'post',
    path: '/schools/{schoolId}/members/{accountId}/invite',
    summary: 'Send the first-time (set your password) email again, to someone who has not set a password yet',
    who: 'administrators',
    params: params.member,
    query: noParams,
    body: bodies.none,
    responses: { 204: responses.none },
    problems: {
      409: 'They have already set a password, or the account is locked',
      429: 'Several emails have gone to this address recently',
    },
    handle: async (admin, authority, { params }) => {
      await admin.staff.inviteMember(authority, params.schoolId, params.accountId);
      return { status: 204 };
    },
  }),
  route({
    method: 'get',
    path: '/accounts',
    summary: 'Find a person by email address (among the staff of schools the caller administers)',
    who: 'administrators',
    params: noParams,
    query: queries.accounts,
    body: bodies.none,
    responses: { 200: responses.people },
    handle: async (admin, authority, { query }) => {
      const person = await admin.people.findByEmail(authority, query.email);
      return ok({ items: person ? [present.person(person)] : [] });
    },
  }),
  route({
    method: 'get',
    path: '/accounts/{accountId}',
    summary: 'A person: memberships, devices, locked or not, last sign-in',
    who: 'administrators',
    params: params.account,
    query: noParams,
    body: bodies.none,
    responses: { 200: responses.person },
    handle: async (admin, authority, { params }) => ok(present.person(await admin.people.get(authority, params.accountId))),
  }),
  ...(
    [
      ['lock', 'Lock the account: every session and token ends', 'lock'],
      ['unlock', 'Unlock the account, and lift the locks of wrong guesses', 'unlock'],
      [
        'mfa-reset',
        'Remove every authenticator device and passkey and void the backup codes (the person is mailed, with the reason)',
        'resetAuthenticators',
      ],
    ] as const
  ).map(([action, summary, method]) =>
    route({
      method: 'post',
      path: `/accounts/{accountId}/${action}`,
      summary,
      who: 'helpdesk',
      params: params.account,
      query: noParams,
      body: bodies.reason,
      responses: { 200: responses.person },
      handle: async (admin, authority, { params, body }) => {
        await admin.people[method](authority, params.accountId, body?.reason);
        return ok(present.person(await admin.people.get(authority, params.accountId)));
      },
    }),
  ),
  route({
    method: 'get',
    path: '/audit',
    summary: 'The audit trail, newest first (a school administrator: their schools only)',
    who: 'administrators',
    params: noParams,
    query: queries.audit,
    body: bodies.none,
    responses: { 200: responses.events },
    handle: async (admin, authority, { query }) => {
      const { cursor, limit, school, since, until, ...filter } = query;
      const page = await admin.auditTrail.list(
        authority,
        { ...filter, schoolId: school, since: since ? new Date(since) : undefined, until: until ? new Date(until) : undefined },
        { cursor, limit },
      );
      return ok(present.page(page, present.event));
    },
  }),
];
