import crypto from 'node:crypto';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { Repositories, UnitOfWork } from '../db/repositories/index.ts';
import type { Change } from '../db/repositories/changes.ts';
import { conflict, notFound, validationError } from './errors.ts';
import type { AdminRoleName } from '../db/repositories/admin-roles.ts';
import { SchoolService } from './schools.ts';
import type { Message } from '../i18n/words.ts';

export type NewClient = {
  name: string;
  schoolIds: string[];
  /** A machine client (client_credentials) has no redirect URIs and signs nobody in. */
  machine?: boolean | undefined;
  redirectUris: string[];
  postLogoutRedirectUris?: string[] | undefined;
  initiateLoginUri?: string | undefined;
  backchannelLogoutUri?: string | undefined;
  /** A machine client of the management API holds this role (school-admin: at its schools). */
  apiRole?: AdminRoleName | undefined;
  /** Default client_secret_basic. */
  tokenEndpointAuthMethod?: SecretAuthMethod | undefined;
  /** May leave out PKCE: the OpenID conformance suite's clients only (src/oidc/pkce.ts); default false. */
  pkceOptional?: boolean | undefined;
};

/**
 * How a client may authenticate at the token, introspection, revocation and PAR endpoints: one
 * list for discovery, registration and the CLI. Every client is confidential (DESIGN.md).
 */
export const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const;
/** The ones a client registered by the helpdesk can use: it is given a secret, not keys. */
export const SECRET_AUTH_METHODS = ['client_secret_basic', 'client_secret_post'] as const;
export type SecretAuthMethod = (typeof SECRET_AUTH_METHODS)[number];

/** The scope a token for the management API carries; only clients given an API role may ask for it. */
export const ADMIN_API_SCOPE = 'gatehouse:admin';

/** What a school system may ask for (see SCOPES in src/oidc/provider.ts). */
export const SCHOOL_SYSTEM_SCOPES = 'openid offline_access email profile school';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

export function isLoopbackHttp(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname);
  } catch {
    return false;
  }
}

/** https everywhere, plain http only on loopback for development; no fragments, no wildcards. In English, for integrators. */
export function uriProblem(value: string): string | null {
  return uriProblemOf(value)?.message ?? null;
}

/** The same, with the words a console page says (locales/, `console.clientRules.*`). */
export function uriProblemOf(value: string): { message: string; words: Message } | null {
  const problem = (message: string, rule: string) => ({ message, words: { key: `console.clientRules.${rule}`, values: { uri: value } } });
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return problem(`${value} is not an absolute URL.`, 'notAbsolute');
  }
  if (value.includes('*')) return problem(`${value} contains a wildcard; register each address exactly.`, 'wildcard');
  if (url.hash) return problem(`${value} must not contain a fragment (#).`, 'fragment');
  if (url.username || url.password) return problem(`${value} must not contain a user name or password.`, 'credentials');
  if (url.protocol === 'https:') return null;
  if (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname)) return null;
  return problem(`${value} must use https (http is allowed only on localhost for development).`, 'https');
}

const rule = (name: string): Message => ({ key: `console.clientRules.${name}` });

export class ClientService {
  private readonly transaction: UnitOfWork;
  private readonly clientStore: (repositories: Repositories) => Adapter;
  private readonly announce: (change: Change, scope: Repositories) => Promise<void>;

  constructor(
    transaction: UnitOfWork,
    clientStore: (repositories: Repositories) => Adapter,
    /** Tells every process that a client's schools changed (delivered when the transaction commits). */
    announce: (change: Change, scope: Repositories) => Promise<void> = async () => {},
  ) {
    this.transaction = transaction;
    this.clientStore = clientStore;
    this.announce = announce;
  }

  /** A confidential client for a school system: code flow with PKCE, refresh tokens. */
  async add(input: NewClient): Promise<{ clientId: string; clientSecret: string }> {
    // Each problem names the field it is about (NewClient's), so a form can show it next to that field.
    const fieldsOfUris: Array<[keyof NewClient, string[]]> = [
      ['redirectUris', input.redirectUris],
      ['postLogoutRedirectUris', input.postLogoutRedirectUris ?? []],
      ['initiateLoginUri', input.initiateLoginUri ? [input.initiateLoginUri] : []],
      ['backchannelLogoutUri', input.backchannelLogoutUri ? [input.backchannelLogoutUri] : []],
    ];
    for (const [field, values] of fieldsOfUris) {
      const problem = values.map((uri) => uriProblemOf(uri)).find(Boolean);
      if (problem) throw validationError(problem.message, field, problem.words);
    }
    if (!input.machine && input.redirectUris.length === 0)
      throw validationError('A client needs at least one redirect URI (--redirect-uri).', 'redirectUris', rule('needsRedirect'));
    if (input.machine && input.redirectUris.length > 0)
      throw validationError('A machine client (client_credentials) takes no redirect URI.', 'redirectUris', rule('machineNoRedirect'));
    if (input.apiRole && !input.machine)
      throw validationError('Only a machine client (client_credentials) can hold an API role.', 'apiRole', rule('apiRoleMachineOnly'));
    if (input.apiRole === 'school-admin' && input.schoolIds.length === 0)
      throw validationError(
        'A school-admin API client needs the school(s) it administers (--school).',
        'schoolIds',
        rule('schoolAdminNeedsSchool'),
      );
    const clientId = `gh_${crypto.randomBytes(12).toString('base64url')}`;
    const clientSecret = crypto.randomBytes(32).toString('base64url');
    await this.transaction(async (repositories) => {
      await new SchoolService(repositories).requireAll(input.schoolIds);
      await this.clientStore(repositories).upsert(clientId, clientMetadata(clientId, clientSecret, input) as AdapterPayload, 0);
      await repositories.clientSchools.link(clientId, input.schoolIds);
      await this.announce({ topic: 'client-schools', id: clientId }, repositories);
      if (input.apiRole === 'helpdesk') await repositories.adminRoles.grant({ clientId }, 'helpdesk', null);
      if (input.apiRole === 'school-admin') {
        for (const schoolId of input.schoolIds) await repositories.adminRoles.grant({ clientId }, 'school-admin', schoolId);
      }
    });
    return { clientId, clientSecret };
  }

  /** Links a client (one added here, or registered dynamically) to more schools. */
  async link(clientId: string, schoolIds: string[]): Promise<void> {
    await this.transaction(async (repositories) => {
      if (!(await this.clientStore(repositories).find(clientId))) throw notFound(`No client has the id ${clientId}.`);
      await new SchoolService(repositories).requireAll(schoolIds);
      await repositories.clientSchools.link(clientId, schoolIds);
      await this.announce({ topic: 'client-schools', id: clientId }, repositories);
    });
  }

  /** The client no longer serves the school: its staff cannot sign in through it from the next sign-in. */
  async unlink(clientId: string, schoolId: string): Promise<void> {
    await this.transaction(async (repositories) => {
      if (!(await repositories.clientSchools.unlink(clientId, schoolId))) throw notFound('This client does not serve this school.');
      await this.announce({ topic: 'client-schools', id: clientId }, repositories);
    });
  }

  /**
   * A new random secret for the client, returned once and stored only sealed (by the adapter):
   * the old one is refused from the next request, since the provider reads the client afresh.
   */
  async newSecret(clientId: string): Promise<{ clientSecret: string }> {
    const clientSecret = crypto.randomBytes(32).toString('base64url');
    await this.transaction(async (repositories) => {
      // Held until the end: two new secrets at once cannot leave a third state behind.
      if (!(await repositories.clients.lock(clientId))) throw notFound(`No client has the id ${clientId}.`);
      const store = this.clientStore(repositories);
      const [payload, stored] = await Promise.all([store.find(clientId), repositories.clients.find(clientId)]);
      if (!payload || !stored) throw notFound(`No client has the id ${clientId}.`);
      if (!SECRET_METHODS.has(stored.tokenEndpointAuthMethod)) {
        throw conflict(`This client authenticates with ${stored.tokenEndpointAuthMethod}, not a secret: there is no secret to replace.`);
      }
      // The adapter hides a development (loopback http) initiate_login_uri from the provider; keep it stored.
      const loginUri =
        stored.initiateLoginUri && payload.initiate_login_uri === undefined ? { initiate_login_uri: stored.initiateLoginUri } : {};
      await store.upsert(clientId, { ...payload, ...loginUri, client_secret: clientSecret }, 0);
      // A leaked secret is replaced to shut its holder out: the machine tokens it bought end too.
      await repositories.oidcPayloads.revokeClientCredentials(clientId);
    });
    return { clientSecret };
  }
}

/** The token endpoint authentication methods that use the client's secret. */
const SECRET_METHODS: ReadonlySet<string> = new Set(['client_secret_basic', 'client_secret_post', 'client_secret_jwt']);

function clientMetadata(clientId: string, clientSecret: string, input: NewClient) {
  const flows = input.machine
    ? { grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }
    : { grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], redirect_uris: input.redirectUris };
  return {
    client_id: clientId,
    client_secret: clientSecret,
    client_id_issued_at: Math.floor(Date.now() / 1000),
    client_name: input.name,
    ...flows,
    token_endpoint_auth_method: input.tokenEndpointAuthMethod ?? 'client_secret_basic',
    // Every client has an explicit scope list: oidc-provider then refuses any other scope it knows,
    // so only a client given an API role can be issued a token for the management API.
    scope: input.apiRole ? ADMIN_API_SCOPE : SCHOOL_SYSTEM_SCOPES,
    ...(input.pkceOptional ? { pkce_optional: true } : {}),
    ...(input.postLogoutRedirectUris?.length ? { post_logout_redirect_uris: input.postLogoutRedirectUris } : {}),
    ...(input.initiateLoginUri ? { initiate_login_uri: input.initiateLoginUri } : {}),
    ...(input.backchannelLogoutUri
      ? { backchannel_logout_uri: input.backchannelLogoutUri, backchannel_logout_session_required: true }
      : {}),
  };
}
