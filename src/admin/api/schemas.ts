import { z } from 'zod';
import { fields, isStorableText } from '../fields.ts';
import { MAX_PAGE_SIZE } from '../pagination.ts';

/** The request and response shapes of /api/v1: they validate requests and generate openapi.json. */
const cursor = z
  .string()
  .max(2000)
  .refine(isStorableText, 'must be a cursor from a previous page')
  .optional()
  .describe('From `next_cursor` of the previous page.');
const limit = z.coerce
  .number()
  .int()
  .min(1)
  .max(MAX_PAGE_SIZE)
  .optional()
  .describe(`Items per page (default 50, at most ${MAX_PAGE_SIZE}).`);
const search = fields.text(200).optional().describe('Part of a name, email address or postcode.');
const reason = z
  .object({ reason: fields.text(500).optional().describe('Why; kept in the audit trail and mailed to the person.') })
  .strict();
const timestamp = z.iso.datetime({ offset: true });

export const params = {
  school: z.object({ schoolId: fields.id }).strict(),
  member: z.object({ schoolId: fields.id, accountId: fields.id }).strict(),
  account: z.object({ accountId: fields.id }).strict(),
};

export const queries = {
  none: z.object({}).strict(),
  list: z.object({ search, cursor, limit }).strict(),
  accounts: z.object({ email: fields.email.describe('The address, in any case.') }).strict(),
  audit: z
    .object({
      email: fields.email.optional(),
      school: fields.id.optional().describe('A school id.'),
      event: z
        .string()
        .max(100)
        .regex(/^[a-z_.-]+$/, 'must be an event name such as admin.member.remove')
        .optional(),
      since: timestamp.optional().describe('Events at or after this time (ISO 8601).'),
      until: timestamp.optional().describe('Events before this time (ISO 8601).'),
      cursor,
      limit,
    })
    .strict(),
};

export const bodies = {
  none: z.undefined(),
  newSchool: z.object({ name: fields.text(200), postcode: fields.text(16) }).strict(),
  newMember: z
    .object({
      email: fields.email,
      name: fields.text(200).optional().describe('Used only when the account is new.'),
      level: fields.level,
      invite: z.boolean().optional().describe('Send the first-time email to a person who has never set a password.'),
    })
    .strict(),
  level: z.object({ level: fields.level }).strict(),
  reason: reason.optional(),
};

const school = z.object({ id: z.uuid(), name: z.string(), postcode: z.string(), created_at: z.string() });
const member = z.object({
  account_id: z.uuid(),
  email: z.string(),
  name: z.string().nullable(),
  level: fields.level,
  status: z.enum(['active', 'locked']),
  has_password: z.boolean().describe('False until the person has set a password through the first-time email.'),
  added_at: z.string(),
});
const person = z.object({
  id: z.uuid(),
  email: z.string(),
  name: z.string().nullable(),
  status: z.enum(['active', 'locked']),
  has_password: z.boolean(),
  devices: z.number().int().describe('Authenticator devices enrolled.'),
  passkeys: z.number().int().describe('Passkeys registered.'),
  backup_codes_left: z.number().int().describe('Unused backup codes.'),
  last_sign_in: z.string().nullable(),
  memberships: z
    .array(z.object({ school_id: z.uuid(), school_name: z.string(), level: fields.level }))
    .describe('Only at schools the caller administers.'),
});
const event = z.object({
  id: z.string(),
  at: z.string(),
  event: z.string(),
  outcome: z.enum(['success', 'failure']),
  reason: z.string().nullable(),
  account_id: z.string().nullable(),
  email: z.string().nullable(),
  school_id: z.string().nullable(),
  client_id: z.string().nullable(),
  ip: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()).nullable(),
});
const pageOf = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), next_cursor: z.string().nullable() });

export const responses = {
  school,
  schools: pageOf(school),
  member,
  memberAdded: member.extend({
    result: z.enum(['added', 'changed', 'unchanged']),
    account_created: z.boolean(),
    invited: z.boolean(),
  }),
  members: pageOf(member),
  person,
  people: z.object({ items: z.array(person) }),
  events: pageOf(event),
  removed: z.object({
    revoked_grants: z.number().int().describe('Sign-ins (grants) at this school that ended.'),
    revoked_role: z.boolean().describe('Whether they administered this school (that role ended too).'),
  }),
  none: z.null(),
};

export const problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  errors: z.array(z.object({ pointer: z.string(), detail: z.string() })).optional(),
});
