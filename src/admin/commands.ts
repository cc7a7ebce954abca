import { z } from 'zod';
import { notFound, validationError } from '../domain/errors.ts';
import type { Services } from '../services.ts';
import { SCHOOL_SYSTEM_POLICY } from '../oidc/registration-policy.ts';

export type CommandResult = { json: Record<string, unknown>; text: string };

type Options = Record<string, string | boolean | Array<string | boolean> | undefined>;

const list = (value: Options[string]) => (value === undefined ? [] : (Array.isArray(value) ? value : [value]).map(String));
const one = (value: Options[string]) => list(value).at(-1);

const uuid = z.uuid('must be a school id (a UUID)');
const email = z
  .string()
  .trim()
  .max(254)
  .regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'must be an email address');
const text = (max: number) => z.string().trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);
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

/** The CLI's commands: each parses its options at the edge, then calls one service. */
export const commands: Record<string, (services: Services, options: Options) => Promise<CommandResult>> = {
  async 'school add'(services, options) {
    const school = await services.schools.add({
      name: parse(text(200), required(options, 'name'), 'name'),
      postcode: parse(text(16), required(options, 'postcode'), 'postcode'),
    });
    return { json: { id: school.id }, text: `Added school ${school.name} (${school.id}).` };
  },

  async 'school list'(services) {
    const schools = await services.schools.list();
    return {
      json: { schools: schools.map(({ id, name, postcode }) => ({ id, name, postcode })) },
      text: schools.map((s) => `${s.id}  ${s.name}  ${s.postcode}`).join('\n') || 'No schools yet.',
    };
  },

  async 'client add'(services, options) {
    const schoolIds = list(options.school).map((id) => parse(uuid, id, 'school'));
    if (schoolIds.length === 0) throw validationError('--school is required (once per school the client serves).');
    const grantType = one(options['grant-type']) ?? 'authorization_code';
    if (grantType !== 'authorization_code' && grantType !== 'client_credentials') {
      throw validationError(
        '--grant-type must be authorization_code (a school system people sign in to) or client_credentials (a machine client).',
      );
    }
    const client = await services.clients.add({
      name: parse(text(200), required(options, 'name'), 'name'),
      schoolIds,
      machine: grantType === 'client_credentials',
      redirectUris: list(options['redirect-uri']),
      postLogoutRedirectUris: list(options['post-logout-redirect-uri']),
      initiateLoginUri: one(options['initiate-login-uri']),
      backchannelLogoutUri: one(options['backchannel-logout-uri']),
    });
    return {
      json: { client_id: client.clientId, client_secret: client.clientSecret },
      text: `client_id:     ${client.clientId}\nclient_secret: ${client.clientSecret}\nKeep the secret safe: it is not shown again.`,
    };
  },

  async 'client link'(services, options) {
    const clientId = parse(text(200), required(options, 'client'), 'client');
    const schoolIds = list(options.school).map((id) => parse(uuid, id, 'school'));
    if (schoolIds.length === 0) throw validationError('--school is required (once per school to link).');
    await services.clients.link(clientId, schoolIds);
    return { json: { client_id: clientId, schools: schoolIds }, text: `Linked ${clientId} to ${schoolIds.length} school(s).` };
  },

  async 'token initial-access'(services, options) {
    const days = Number(one(options['expires-in-days']) ?? 7);
    if (!Number.isInteger(days) || days < 1 || days > 90) throw validationError('--expires-in-days must be a whole number from 1 to 90.');
    const { provider } = await services.oidc();
    const token = await new provider.InitialAccessToken({ expiresIn: days * 86_400, policies: [SCHOOL_SYSTEM_POLICY] }).save();
    return {
      json: { token, expires_in: days * 86_400, registration_endpoint: `${services.config.issuer}/reg` },
      text: `Initial access token (valid ${days} days, for POST ${services.config.issuer}/reg):\n${token}`,
    };
  },

  async 'keys rotate'(services) {
    const keys = await services.keys.rotate();
    const next = keys.find((key) => key.status === 'next')!;
    return {
      json: { keys },
      text: `Published the next signing key ${next.kid}. Restart every Gatehouse process, then run "keys activate".`,
    };
  },

  async 'keys activate'(services) {
    const keys = await services.keys.activate();
    if (!keys) throw validationError('There is no next key to activate: run "keys rotate" first.');
    return {
      json: { keys },
      text: `Key ${keys[0]!.kid} signs from the next start of each process: restart them. The old key stays published for a day.`,
    };
  },

  async 'keys list'(services) {
    const keys = await services.keys.list();
    return {
      json: { keys },
      text: keys.map((k) => `${k.kid}  ${k.alg}  ${k.status}${k.retiredAt ? `  retired ${k.retiredAt}` : ''}`).join('\n'),
    };
  },

  async 'user add'(services, options) {
    const memberships = list(options.school).map((value) => {
      const [schoolId, level] = parse(membership, value, 'school').split(':');
      return { schoolId: schoolId!.toLowerCase(), accessLevel: (level ?? 'basic') as 'basic' | 'higher' };
    });
    if (memberships.length === 0) throw validationError('--school is required (<schoolId>[:basic|:higher]).');
    const nameOption = one(options.name);
    const account = await services.accounts.addUser({
      email: parse(email, required(options, 'email'), 'email'),
      name: nameOption === undefined ? undefined : parse(text(200), nameOption, 'name'),
      memberships,
    });
    return { json: { id: account.id }, text: `Account ${account.email} (${account.id}) has ${memberships.length} membership(s) added.` };
  },

  async 'user mfa-reset'(services, options) {
    const address = parse(email, required(options, 'email'), 'email');
    const account = await services.accounts.findByEmail(address);
    if (!account) throw notFound(`No account has the email address ${address}.`);
    const removed = await services.authenticators.resetAll(account);
    return { json: { id: account.id, removed }, text: `Removed ${removed} authenticator device(s) from ${account.email}.` };
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

  async 'user lock'(services, options) {
    const account = await services.accounts.setStatus(parse(email, required(options, 'email'), 'email'), 'locked');
    return { json: { id: account.id, status: account.status }, text: `Locked ${account.email}.` };
  },

  async 'user unlock'(services, options) {
    const account = await services.accounts.setStatus(parse(email, required(options, 'email'), 'email'), 'active');
    // `released`: how many counters of wrong attempts (and the locks they caused) were lifted.
    return { json: { id: account.id, status: account.status, released: account.released }, text: `Unlocked ${account.email}.` };
  },
};
