import { z } from 'zod';
import type { AdminRoleName } from '../db/repositories/admin-roles.ts';
import { SECRET_AUTH_METHODS, type SecretAuthMethod } from '../domain/clients.ts';
import { validationError } from '../domain/errors.ts';
import type { Services } from '../services.ts';
import type { Authority } from './authority.ts';
import { fields } from './fields.ts';
import type { RoleGrant } from './service.ts';

export type CommandResult = { json: Record<string, unknown>; text: string };

type Options = Record<string, string | boolean | Array<string | boolean> | undefined>;

const list = (value: Options[string]) => (value === undefined ? [] : (Array.isArray(value) ? value : [value]).map(String));
const one = (value: Options[string]) => list(value).at(-1);

const uuid = fields.id;
const email = fields.email;
const text = fields.text;
const membership = z.string().regex(/^[0-9a-fA-F-]{36}(:(basic|higher))?$/, 'must be <schoolId>[:basic|:higher]');

function parse<T extends z.ZodType>(schema: T, value: unknown, option: string): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(`--${option} ${result.error.issues[0]?.message ?? 'is invalid'}.`);
  return result.data;
}

function required(options: Options, name: string): string {
  const value = one(options[name]);
  if (value === undefined || value === 'true') throw validationError(`--${name} is required.`);
  return value;
}

const ROLES: readonly AdminRoleName[] = ['helpdesk', 'school-admin'];

function pkceOption(options: Options): boolean {
  const pkce = one(options.pkce) ?? 'required';
  if (pkce !== 'required' && pkce !== 'optional') {
    throw validationError("--pkce must be required (the default) or optional (only for the OpenID conformance suite's clients).");
  }
  return pkce === 'optional';
}

function authMethodOption(options: Options): SecretAuthMethod | undefined {
  const method = one(options['token-endpoint-auth-method']);
  if (method === undefined) return undefined;
  const allowed: readonly string[] = SECRET_AUTH_METHODS;
  if (!allowed.includes(method)) {
    throw validationError(
      `--token-endpoint-auth-method must be ${SECRET_AUTH_METHODS.join(' or ')}: a client registered here is given a secret (private_key_jwt is for dynamic registration, with the client's jwks_uri).`,
    );
  }
  return method as SecretAuthMethod;
}

function roleOption(options: Options, name: string): AdminRoleName {
  const role = required(options, name);
  if (!ROLES.includes(role as AdminRoleName)) throw validationError(`--${name} must be helpdesk or school-admin.`);
  return role as AdminRoleName;
}

/** `role grant|revoke`: a person by --email, or a machine client by --client; a school for school-admin. */
function roleGrant(options: Options): RoleGrant {
  const role = roleOption(options, 'role');
  const clientId = one(options.client);
  const subject =
    clientId !== undefined
      ? { clientId: parse(text(200), clientId, 'client') }
      : { email: parse(email, required(options, 'email'), 'email') };
  const school = one(options.school);
  return { subject, role, schoolId: school === undefined ? undefined : parse(uuid, school, 'school') };
}

type Command = (services: Services, options: Options, operator: Authority) => Promise<CommandResult>;

/**
 * The CLI's commands: each parses its options at the edge, then calls the administration service
 * as the operator (the helpdesk's powers, on the server itself), which audits the act.
 */
export const commands: Record<string, Command> = {
  async 'school add'(services, options, operator) {
    const school = await services.admin.staff.addSchool(operator, {
      name: parse(text(200), required(options, 'name'), 'name'),
      postcode: parse(text(16), required(options, 'postcode'), 'postcode'),
    });
    return { json: { id: school.id }, text: `Added school ${school.name} (${school.id}).` };
  },

  async 'school list'(services, _options, operator) {
    const schools = [];
    let cursor: string | undefined;
    do {
      const page = await services.admin.staff.listSchools(operator, { cursor, limit: 200 });
      schools.push(...page.items);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    return {
      json: { schools: schools.map(({ id, name, postcode }) => ({ id, name, postcode })) },
      text: schools.map((s) => `${s.id}  ${s.name}  ${s.postcode}`).join('\n') || 'No schools yet.',
    };
  },

  async 'client add'(services, options, operator) {
    const schoolIds = list(options.school).map((id) => parse(uuid, id, 'school'));
    const apiRole = options['api-role'] === undefined ? undefined : roleOption(options, 'api-role');
    if (schoolIds.length === 0 && apiRole !== 'helpdesk')
      throw validationError('--school is required (once per school the client serves).');
    const grantType = one(options['grant-type']) ?? 'authorization_code';
    if (grantType !== 'authorization_code' && grantType !== 'client_credentials') {
      throw validationError(
        '--grant-type must be authorization_code (a school system people sign in to) or client_credentials (a machine client).',
      );
    }
    const client = await services.admin.clients.add(operator, {
      name: parse(text(200), required(options, 'name'), 'name'),
      schoolIds,
      machine: grantType === 'client_credentials',
      redirectUris: list(options['redirect-uri']),
      postLogoutRedirectUris: list(options['post-logout-redirect-uri']),
      initiateLoginUri: one(options['initiate-login-uri']),
      backchannelLogoutUri: one(options['backchannel-logout-uri']),
      apiRole,
      tokenEndpointAuthMethod: authMethodOption(options),
      pkceOptional: pkceOption(options),
    });
    return {
      json: { client_id: client.clientId, client_secret: client.clientSecret },
      text: `client_id:     ${client.clientId}\nclient_secret: ${client.clientSecret}\nKeep the secret safe: it is not shown again.`,
    };
  },

  async 'client link'(services, options, operator) {
    const clientId = parse(text(200), required(options, 'client'), 'client');
    const schoolIds = list(options.school).map((id) => parse(uuid, id, 'school'));
    if (schoolIds.length === 0) throw validationError('--school is required (once per school to link).');
    await services.admin.clients.link(operator, clientId, schoolIds);
    return { json: { client_id: clientId, schools: schoolIds }, text: `Linked ${clientId} to ${schoolIds.length} school(s).` };
  },

  async 'token initial-access'(services, options, operator) {
    const days = Number(one(options['expires-in-days']) ?? 7);
    if (!Number.isInteger(days) || days < 1 || days > 90) throw validationError('--expires-in-days must be a whole number from 1 to 90.');
    const token = await services.admin.clients.issueInitialAccessToken(operator, days);
    return {
      json: { token, expires_in: days * 86_400, registration_endpoint: `${services.config.issuer}/reg` },
      text: `Initial access token (valid ${days} days, for POST ${services.config.issuer}/reg):\n${token}`,
    };
  },

  async 'keys rotate'(services, _options, operator) {
    const keys = (await services.admin.clients.rotateKeys(operator)) as Awaited<ReturnType<Services['keys']['rotate']>>;
    const next = keys.find((key) => key.status === 'next')!;
    return {
      json: { keys },
      text: `Published the next signing key ${next.kid}; every running process serves it within seconds. Wait at least 5 minutes (relying parties may keep the old key list that long), then run "keys activate".`,
    };
  },

  async 'keys activate'(services, _options, operator) {
    const keys = (await services.admin.clients.activateKey(operator)) as Awaited<ReturnType<Services['keys']['activate']>>;
    if (!keys) throw validationError('There is no next key to activate: run "keys rotate" first.');
    return {
      json: { keys },
      text: `Key ${keys[0]!.kid} now signs, on every running process within seconds. The old key stays published for a day.`,
    };
  },

  async 'keys list'(services, _options, operator) {
    const keys = (await services.admin.clients.listKeys(operator)) as Awaited<ReturnType<Services['keys']['list']>>;
    return {
      json: { keys },
      text: keys.map((k) => `${k.kid}  ${k.alg}  ${k.status}${k.retiredAt ? `  retired ${k.retiredAt}` : ''}`).join('\n'),
    };
  },

  async 'user add'(services, options, operator) {
    const memberships = list(options.school).map((value) => {
      const [schoolId, level] = parse(membership, value, 'school').split(':');
      return { schoolId: schoolId!.toLowerCase(), accessLevel: (level ?? 'basic') as 'basic' | 'higher' };
    });
    if (memberships.length === 0) throw validationError('--school is required (<schoolId>[:basic|:higher]).');
    const nameOption = one(options.name);
    const account = await services.admin.people.addUser(operator, {
      email: parse(email, required(options, 'email'), 'email'),
      name: nameOption === undefined ? undefined : parse(text(200), nameOption, 'name'),
      memberships,
    });
    return { json: { id: account.id }, text: `Account ${account.email} (${account.id}) has ${memberships.length} membership(s) added.` };
  },

  async 'user mfa-reset'(services, options, operator) {
    const accountId = await services.admin.people.idOf(parse(email, required(options, 'email'), 'email'));
    const reason = one(options.reason) === undefined ? undefined : parse(text(500), one(options.reason), 'reason');
    const account = await services.admin.people.resetAuthenticators(operator, accountId, reason);
    return {
      json: {
        id: account.id,
        removed: account.removed,
        passkeys_removed: account.passkeysRemoved,
        backup_codes_voided: account.backupCodesVoided,
      },
      text: `Removed ${account.removed} authenticator device(s) and ${account.passkeysRemoved} passkey(s) from ${account.email}, and voided ${account.backupCodesVoided} unused backup code(s).`,
    };
  },

  async audit(services, options) {
    const address = parse(email, required(options, 'email'), 'email');
    const limit = Number(one(options.limit) ?? 100);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw validationError('--limit must be a whole number from 1 to 10000.');
    const events = await services.audit.forEmail(address, limit);
    const text = events
      .map((e) => [e.at.toISOString(), e.event, e.outcome, e.reason ?? '', e.clientId ?? '', e.ip ?? ''].join('  ').trimEnd())
      .join('\n');
    return { json: { events }, text: text || `No events for ${address}.` };
  },

  async 'user lock'(services, options, operator) {
    const accountId = await services.admin.people.idOf(parse(email, required(options, 'email'), 'email'));
    const account = await services.admin.people.lock(operator, accountId);
    return { json: { id: account.id, status: account.status }, text: `Locked ${account.email}.` };
  },

  async 'user unlock'(services, options, operator) {
    const accountId = await services.admin.people.idOf(parse(email, required(options, 'email'), 'email'));
    const account = await services.admin.people.unlock(operator, accountId);
    // `released`: how many counters of wrong attempts (and the locks they caused) were lifted.
    return { json: { id: account.id, status: account.status, released: account.released }, text: `Unlocked ${account.email}.` };
  },

  async 'role grant'(services, options, operator) {
    const grant = roleGrant(options);
    const { id, created } = await services.admin.roles.grant(operator, grant);
    return { json: { id, created }, text: `${created ? 'Granted' : 'Already held:'} ${describeGrant(grant)} (${id}).` };
  },

  async 'role revoke'(services, options, operator) {
    const grant = roleGrant(options);
    const { id } = await services.admin.roles.revoke(operator, grant);
    return { json: { id }, text: `Revoked ${describeGrant(grant)}.` };
  },

  async 'role list'(services, options, operator) {
    const page = await services.admin.roles.list(operator, { cursor: one(options.cursor), limit: 200 });
    const roles = page.items.map(({ id, role, schoolId, accountId, email, clientId }) => ({
      id,
      role,
      school_id: schoolId,
      ...(accountId ? { account_id: accountId, email } : { client_id: clientId }),
    }));
    const text = page.items
      .map((r) => [r.id, r.role, r.schoolId ?? 'every school', r.email ?? `client ${r.clientId}`].join('  '))
      .join('\n');
    return {
      json: { roles, next_cursor: page.nextCursor },
      text: (text || 'No roles granted yet.') + (page.nextCursor ? `\nMore: --cursor ${page.nextCursor}` : ''),
    };
  },
};

function describeGrant(grant: RoleGrant): string {
  const who = 'email' in grant.subject ? grant.subject.email : `client ${grant.subject.clientId}`;
  return `${grant.role}${grant.schoolId ? ` of school ${grant.schoolId}` : ''} for ${who}`;
}
