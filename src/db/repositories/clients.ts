import type { EntityManager } from 'typeorm';
import type { AdminRoleName } from './admin-roles.ts';
import { containsPattern } from './like.ts';

/**
 * A registered client as the helpdesk sees it: what it is, where it may send people, the schools
 * it serves and any API role it holds. Never its secret: that stays sealed in the payload.
 */
export type RegisteredClient = {
  clientId: string;
  name: string;
  /** Signs nobody in: a machine client (client_credentials). */
  machine: boolean;
  grantTypes: string[];
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  initiateLoginUri: string | null;
  backchannelLogoutUri: string | null;
  tokenEndpointAuthMethod: string;
  issuedAt: Date | null;
  schools: Array<{ id: string; name: string }>;
  apiRoles: Array<{ role: AdminRoleName; schoolId: string | null }>;
};

type Row = {
  id: string;
  name: string;
  sort_name: string;
  grant_types: unknown;
  redirect_uris: unknown;
  post_logout_redirect_uris: unknown;
  initiate_login_uri: string | null;
  backchannel_logout_uri: string | null;
  auth_method: string | null;
  issued_at: string | null;
  schools: Array<{ id: string; name: string }>;
  roles: Array<{ role: AdminRoleName; school_id: string | null }>;
};

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((item) => typeof item === 'string') : []);

const toClient = (row: Row): RegisteredClient => {
  // oidc-provider's default when a client registers without grant_types.
  const grantTypes = Array.isArray(row.grant_types) ? strings(row.grant_types) : ['authorization_code'];
  const issuedAt = row.issued_at !== null && /^\d{1,12}$/.test(row.issued_at) ? new Date(Number(row.issued_at) * 1000) : null;
  return {
    clientId: row.id,
    name: row.name,
    machine: grantTypes.includes('client_credentials'),
    grantTypes,
    redirectUris: strings(row.redirect_uris),
    postLogoutRedirectUris: strings(row.post_logout_redirect_uris),
    initiateLoginUri: row.initiate_login_uri,
    backchannelLogoutUri: row.backchannel_logout_uri,
    tokenEndpointAuthMethod: row.auth_method ?? 'client_secret_basic',
    issuedAt,
    schools: row.schools,
    apiRoles: row.roles.map((role) => ({ role: role.role, schoolId: role.school_id })),
  };
};

const NAME = `coalesce(p.payload->>'client_name', '')`;
/** The sort key of a client: the start of its name (empty when registered without one), then its id; short enough for a cursor. */
const KEY = `left(${NAME}, 180)`;

/** Only the fields named here leave the table: the sealed secret never does. */
const SELECT = `
  SELECT p.id, ${NAME} AS name, ${KEY} AS sort_name,
         p.payload->'grant_types' AS grant_types,
         p.payload->'redirect_uris' AS redirect_uris,
         p.payload->'post_logout_redirect_uris' AS post_logout_redirect_uris,
         p.payload->>'initiate_login_uri' AS initiate_login_uri,
         p.payload->>'backchannel_logout_uri' AS backchannel_logout_uri,
         p.payload->>'token_endpoint_auth_method' AS auth_method,
         p.payload->>'client_id_issued_at' AS issued_at,
         coalesce((SELECT json_agg(json_build_object('id', s.id, 'name', s.name) ORDER BY s.name, s.id)
                     FROM client_schools cs JOIN schools s ON s.id = cs.school_id
                    WHERE cs.client_id = p.id), '[]') AS schools,
         coalesce((SELECT json_agg(json_build_object('role', r.role, 'school_id', r.school_id) ORDER BY r.role, r.school_id NULLS FIRST)
                     FROM admin_roles r WHERE r.client_id = p.id), '[]') AS roles
    FROM oidc_payloads p`;

/** The registered clients (oidc_payloads rows of model Client, whose ids are stored in clear). */
export class ClientsRepository {
  private readonly db: EntityManager;

  constructor(db: EntityManager) {
    this.db = db;
  }

  /** Clients by name then id, at most `limit` after the cursor; `search` matches part of the name or the id. */
  async page(options: {
    search: string | undefined;
    after: [string, string] | null;
    limit: number;
  }): Promise<Array<RegisteredClient & { cursor: [string, string] }>> {
    const rows: Row[] = await this.db.query(
      `${SELECT}
        WHERE p.model = 'Client'
          AND ($1::text IS NULL OR lower(${NAME}) LIKE $1 OR lower(p.id) LIKE $1)
          AND ($2::text IS NULL OR (${KEY}, p.id) > ($2::text, $3::text))
        ORDER BY ${KEY}, p.id LIMIT $4`,
      [options.search ? containsPattern(options.search) : null, options.after?.[0] ?? null, options.after?.[1] ?? null, options.limit],
    );
    return rows.map((row) => ({ ...toClient(row), cursor: [row.sort_name, row.id] }));
  }

  async find(clientId: string): Promise<RegisteredClient | null> {
    const rows: Row[] = await this.db.query(`${SELECT} WHERE p.model = 'Client' AND p.id = $1`, [clientId]);
    return rows[0] ? toClient(rows[0]) : null;
  }

  /** Holds the client's row until the transaction ends (false when there is none): two rewrites cannot interleave. */
  async lock(clientId: string): Promise<boolean> {
    const rows: unknown[] = await this.db.query(`SELECT 1 FROM oidc_payloads WHERE model = 'Client' AND id = $1 FOR UPDATE`, [clientId]);
    return rows.length > 0;
  }
}
