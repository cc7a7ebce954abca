/**
 * Fills a scratch PostgreSQL database with a realistic volume of Gatehouse data, to check the
 * indexes against it (bench/volume/explain.ts):
 *
 *   createdb -h 127.0.0.1 -U postgres gatehouse_volume
 *   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/gatehouse_volume node bench/volume/seed.ts
 *
 * The schema comes from Gatehouse's own migrations; the rows are written with set-based SQL
 * (INSERT … SELECT over generate_series), never row by row. Every id and every "random" choice
 * is a hash of the row's number, so two runs seed the same data and a later step can name a row
 * an earlier one wrote (account n, school n, grant n) without looking it up.
 */
import os from 'node:os';
import pg from 'pg';
import { openDatabase } from '../../src/db/database.ts';

/** How much of everything: the volume the issue asks about. */
export const VOLUME = {
  accounts: 100_000,
  schools: 2_000,
  clients: 500,
  /** Clients numbered above this are machine clients (client_credentials only). */
  interactiveClients: 400,
  tokens: {
    Grant: 150_000,
    RefreshToken: 350_000,
    AccessToken: 200_000,
    Session: 120_000,
    AuthorizationCode: 20_000,
    Interaction: 60_000,
    ClientCredentials: 100_000,
  },
  auditEvents: 1_000_000,
  auditDays: 90,
  throttleWindows: 50_000,
  failureStreaks: 30_000,
  resetTokens: 20_000,
  grantSchools: 15_000,
  sessionProofs: 30_000,
  outboundDeliveries: 20_000,
} as const;

/** Lifetimes as src/config/index.ts sets them by default (seconds). */
const TTL = {
  Grant: 14 * 86_400,
  RefreshToken: 14 * 86_400,
  AccessToken: 600,
  Session: 12 * 3_600,
  AuthorizationCode: 60,
  Interaction: 1_800,
  ClientCredentials: 600,
} as const;

/** The sweeper runs every 5 minutes (and keeps rows a minute past expiry): that much expired is normal. */
const SWEEP_LAG_SECONDS = 360;

/** Any PHC string will do: nothing here verifies it. */
const PASSWORD_HASH = '$argon2id$v=19$m=19456,t=2,p=1$c2VlZHNlZWRzZWVkc2VlZA$0Yq9n2v3m7i0b0uYqgN8Vg2QfRkq1mCj3zY5lW8s4dE';

const FIRST_NAMES = `ARRAY['Amelia','Oliver','Isla','George','Ava','Noah','Mia','Arthur','Ivy','Muhammad','Freya','Leo','Lily','Harry','Florence','Oscar',
  'Willow','Archie','Rosie','Henry','Sophia','Theodore','Isabella','Jack','Grace','Charlie','Evie','Thomas','Poppy','Jacob','Ella','Alfie',
  'Aisha','Priya','Mohammed','Zara','Sian','Dafydd','Niamh','Ciaran']`;
const LAST_NAMES = `ARRAY['Smith','Jones','Taylor','Brown','Williams','Wilson','Johnson','Davies','Patel','Robinson','Wright','Thompson','Evans',
  'Walker','White','Roberts','Green','Hall','Thomas','Clarke','Jackson','Wood','Harris','Edwards','Turner','Martin','Cooper','Hill','Ward',
  'Hughes','Moore','Clark','King','Harrison','Lewis','Baker','Lee','Allen','Morris','Khan']`;
const TOWNS = `ARRAY['Ashford','Barnsley','Bolton','Bradford','Bristol','Cardiff','Carlisle','Coventry','Derby','Durham','Exeter','Gloucester',
  'Halifax','Hull','Ipswich','Kendal','Leeds','Leicester','Lincoln','Luton','Norwich','Oldham','Oxford','Preston','Reading','Salford',
  'Sheffield','Stockport','Swansea','Truro','Wakefield','Wigan','Worcester','York']`;
const SCHOOL_KINDS = `ARRAY['Primary School','Infant School','Junior School','Academy','High School','CofE Primary School','Catholic Primary School','College']`;

/**
 * Deterministic helpers, in the session's temporary schema: `rnd` is a number in [0, 1) from a
 * hash of its text, and the others name the n-th school, account, client, grant and session.
 */
const HELPERS = [
  `CREATE FUNCTION pg_temp.rnd(seed text) RETURNS float8 LANGUAGE sql IMMUTABLE
     AS $$ SELECT ('x' || substr(md5(seed), 1, 13))::bit(52)::bigint / 4503599627370496.0 $$`,
  `CREATE FUNCTION pg_temp.school_id(n int) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$ SELECT md5('school:' || n)::uuid $$`,
  `CREATE FUNCTION pg_temp.account_id(n int) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$ SELECT md5('account:' || n)::uuid $$`,
  `CREATE FUNCTION pg_temp.client_id(n int) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'gh_' || substr(md5('client:' || n), 1, 22) $$`,
  `CREATE FUNCTION pg_temp.grant_id(n int) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT substr(md5('grant:' || n), 1, 21) $$`,
  `CREATE FUNCTION pg_temp.session_uid(n int) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT substr(md5('uid:' || n), 1, 21) $$`,
  // A keyed hash of a bearer value, as src/oidc/bearer-storage.ts stores it: 43 base64url characters.
  `CREATE FUNCTION pg_temp.bearer(kind text, n int) RETURNS text LANGUAGE sql IMMUTABLE
     AS $$ SELECT rtrim(translate(encode(sha256(convert_to(kind || ':' || n, 'UTF8')), 'base64'), '+/', '-_'), '=') $$`,
  // Few schools are large (secondaries, trusts' hubs), most are small primaries.
  `CREATE FUNCTION pg_temp.primary_school(account int) RETURNS int LANGUAGE sql IMMUTABLE
     AS $$ SELECT 1 + floor(${VOLUME.schools} * power(pg_temp.rnd('ps:' || account), 1.6))::int $$`,
  `CREATE FUNCTION pg_temp.first_name(account int) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT (${FIRST_NAMES})[1 + account % 40] $$`,
  `CREATE FUNCTION pg_temp.last_name(account int) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT (${LAST_NAMES})[1 + (account / 40) % 40] $$`,
  `CREATE FUNCTION pg_temp.account_email(account int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
     SELECT lower(pg_temp.first_name(account)) || '.' || lower(pg_temp.last_name(account)) || account
            || '@school' || pg_temp.primary_school(account) || '.example.sch.uk' $$`,
  // Some people sign in far more often than others.
  `CREATE FUNCTION pg_temp.grant_account(n int) RETURNS int LANGUAGE sql IMMUTABLE
     AS $$ SELECT 1 + floor(${VOLUME.accounts} * power(pg_temp.rnd('ga:' || n), 1.2))::int $$`,
  // Most sign-ins go to the few national systems, the rest to regional and single-school ones.
  `CREATE FUNCTION pg_temp.grant_client(n int) RETURNS int LANGUAGE sql IMMUTABLE AS $$
     SELECT CASE WHEN r < 0.55 THEN 1 + floor(s * 5) WHEN r < 0.80 THEN 6 + floor(s * 20)
                 WHEN r < 0.93 THEN 26 + floor(s * 75) ELSE 101 + floor(s * 300) END::int
       FROM (SELECT pg_temp.rnd('gc:' || n) AS r, pg_temp.rnd('gs:' || n) AS s) AS t $$`,
  // How many schools client c serves: 5 national systems serve all, then fewer and fewer.
  `CREATE FUNCTION pg_temp.client_school_count(c int) RETURNS int LANGUAGE sql IMMUTABLE AS $$
     SELECT CASE WHEN c <= 5 THEN ${VOLUME.schools} WHEN c <= 25 THEN 200 WHEN c <= 100 THEN 50 ELSE 1 + c % 10 END $$`,
  // Expiry spread over the lifetime, a sweep's worth already past.
  `CREATE FUNCTION pg_temp.expiry(seed text, ttl int) RETURNS timestamptz LANGUAGE sql STABLE
     AS $$ SELECT now() + make_interval(secs => pg_temp.rnd(seed) * (ttl + ${SWEEP_LAG_SECONDS}) - ${SWEEP_LAG_SECONDS}) $$`,
];

type Step = { name: string; sql: string };

/** Which events the trail holds, from where each one's share starts (cumulative, in [0, 1)). */
const AUDIT_MIX: ReadonlyArray<readonly [number, string]> = [
  [0, 'sign_in.authorized'],
  [0.55, 'sign_in.authorized:failure'],
  [0.58, 'sign_in.password'],
  [0.73, 'sign_in.password:failure'],
  [0.81, 'sign_in.code'],
  [0.86, 'sign_out'],
  [0.91, 'password_reset.request'],
  [0.93, 'password_reset.complete'],
  [0.945, 'authenticator.enrol'],
  [0.955, 'admin.read'],
  [0.975, 'member.add'],
  [0.985, 'member.change'],
  [0.99, 'member.remove'],
  [0.994, 'member.invite'],
  [0.997, 'user.lock'],
  [0.9985, 'user.unlock'],
  [0.9992, 'client.secret'],
  [0.9998, 'keys.rotate'],
];

function steps(): Step[] {
  const v = VOLUME;
  const tokenStart = (model: keyof typeof VOLUME.tokens) => {
    // Each model's rows are numbered from 1; grants are numbered too, so tokens can point at them.
    return `generate_series(1, ${v.tokens[model]}) AS n`;
  };
  const sessionAuthorizations = `jsonb_build_object(pg_temp.client_id(pg_temp.grant_client(n)),
      jsonb_build_object('sid', substr(md5('sid:' || n), 1, 21), 'grantId', pg_temp.grant_id(n), 'persistsLogout', false))`;
  return [
    {
      name: `${v.schools} schools`,
      sql: `INSERT INTO schools (id, name, postcode, created_at)
            SELECT pg_temp.school_id(n),
                   (${TOWNS})[1 + n % 34] || ' ' || (${LAST_NAMES})[1 + (n / 34) % 40] || ' ' || (${SCHOOL_KINDS})[1 + n % 8],
                   chr(65 + n % 26) || chr(65 + (n / 26) % 26) || (n % 99) || ' ' || (n % 9) || chr(65 + (n / 7) % 26) || chr(65 + (n / 3) % 26),
                   now() - make_interval(days => (pg_temp.rnd('sc:' || n) * 900)::int)
              FROM generate_series(1, ${v.schools}) AS n`,
    },
    {
      // 85 % have set a password, about 1 % are locked, 3 % have no name on record.
      name: `${v.accounts} accounts`,
      sql: `INSERT INTO accounts (id, email, email_normalised, name, password_hash, status, password_changed_at, sessions_not_before, created_at, updated_at)
            SELECT pg_temp.account_id(n), email, lower(email),
                   CASE WHEN n % 33 = 0 THEN NULL ELSE pg_temp.first_name(n) || ' ' || pg_temp.last_name(n) END,
                   CASE WHEN n % 100 < 85 THEN '${PASSWORD_HASH}' END,
                   CASE WHEN n % 97 = 0 THEN 'locked' ELSE 'active' END,
                   CASE WHEN n % 100 < 85 THEN now() - make_interval(days => (pg_temp.rnd('pc:' || n) * 400)::int) END,
                   CASE WHEN n % 20 = 0 THEN now() - make_interval(days => (pg_temp.rnd('nb:' || n) * 60)::int) END,
                   created, created
              FROM generate_series(1, ${v.accounts}) AS n,
                   LATERAL (SELECT pg_temp.account_email(n) AS email, now() - make_interval(days => (pg_temp.rnd('ac:' || n) * 1000)::int) AS created) AS a`,
    },
    {
      // Most at one school; some at 2–5 (supply staff, trust staff); one in five at "higher".
      name: 'memberships',
      sql: `INSERT INTO memberships (account_id, school_id, access_level, created_at)
            SELECT pg_temp.account_id(n), pg_temp.school_id(1 + (pg_temp.primary_school(n) - 1 + k * 613) % ${v.schools}),
                   CASE WHEN pg_temp.rnd('lv:' || n || ':' || k) < 0.2 THEN 'higher' ELSE 'basic' END,
                   now() - make_interval(days => (pg_temp.rnd('mc:' || n || ':' || k) * 900)::int)
              FROM generate_series(1, ${v.accounts}) AS n,
                   LATERAL (SELECT pg_temp.rnd('ns:' || n) AS r) AS r,
                   LATERAL generate_series(0, CASE WHEN r.r < 0.70 THEN 0 WHEN r.r < 0.90 THEN 1 WHEN r.r < 0.97 THEN 2 WHEN r.r < 0.99 THEN 3 ELSE 4 END) AS k`,
    },
    {
      // As the app stores them: payload is the provider's client metadata, the secret sealed.
      name: `${v.clients} clients`,
      sql: `INSERT INTO oidc_payloads (model, id, payload)
            SELECT 'Client', pg_temp.client_id(c), jsonb_strip_nulls(jsonb_build_object(
                     'client_id', pg_temp.client_id(c),
                     'client_name', CASE WHEN c > ${v.interactiveClients} THEN 'Reporting service ' || c ELSE (${TOWNS})[1 + c % 34] || ' Learning Platform ' || c END,
                     'client_secret_sealed', 'v1.' || md5('secret:' || c) || md5('nonce:' || c),
                     'client_id_issued_at', extract(epoch from now())::bigint - c * 86400,
                     'grant_types', CASE WHEN c > ${v.interactiveClients} THEN '["client_credentials"]'::jsonb ELSE '["authorization_code","refresh_token"]'::jsonb END,
                     'response_types', CASE WHEN c > ${v.interactiveClients} THEN '[]'::jsonb ELSE '["code"]'::jsonb END,
                     'redirect_uris', CASE WHEN c > ${v.interactiveClients} THEN '[]'::jsonb ELSE jsonb_build_array('https://app' || c || '.example.com/callback') END,
                     'post_logout_redirect_uris', CASE WHEN c > ${v.interactiveClients} THEN '[]'::jsonb ELSE jsonb_build_array('https://app' || c || '.example.com/') END,
                     'initiate_login_uri', CASE WHEN c % 3 = 0 AND c <= ${v.interactiveClients} THEN 'https://app' || c || '.example.com/login' END,
                     'backchannel_logout_uri', CASE WHEN c % 4 = 0 AND c <= ${v.interactiveClients} THEN 'https://app' || c || '.example.com/logout' END,
                     'token_endpoint_auth_method', 'client_secret_basic'))
              FROM generate_series(1, ${v.clients}) AS c`,
    },
    {
      name: 'client_schools',
      sql: `INSERT INTO client_schools (client_id, school_id)
            SELECT pg_temp.client_id(c), pg_temp.school_id(1 + (c * 131 + j) % ${v.schools})
              FROM generate_series(1, ${v.clients}) AS c, LATERAL generate_series(0, pg_temp.client_school_count(c) - 1) AS j`,
    },
    {
      name: `${v.tokens.Grant} Grant rows`,
      sql: `INSERT INTO oidc_payloads (model, id, payload, expires_at)
            SELECT 'Grant', pg_temp.grant_id(n), jsonb_build_object(
                     'iat', extract(epoch from now())::bigint - (pg_temp.rnd('gi:' || n) * ${TTL.Grant})::int,
                     'exp', extract(epoch from exp)::bigint, 'kind', 'Grant', 'jti', pg_temp.grant_id(n),
                     'accountId', pg_temp.account_id(pg_temp.grant_account(n)), 'clientId', pg_temp.client_id(pg_temp.grant_client(n)),
                     'openid', jsonb_build_object('scope', 'openid email profile schools', 'claims', '["sub","email","name","school","schools","access_level"]'::jsonb)),
                   exp
              FROM ${tokenStart('Grant')}, LATERAL (SELECT pg_temp.expiry('ge:' || n, ${TTL.Grant}) AS exp) AS e`,
    },
    ...(['RefreshToken', 'AccessToken', 'AuthorizationCode'] as const).map((model) => ({
      // Tokens of the first grants: a busy grant has many (rotated refresh tokens are consumed, not deleted).
      name: `${VOLUME.tokens[model]} ${model} rows`,
      sql: `INSERT INTO oidc_payloads (model, id, payload, grant_id, expires_at, consumed_at)
            SELECT '${model}', pg_temp.bearer('${model}', n), jsonb_build_object(
                     'iat', extract(epoch from exp)::bigint - ${TTL[model]}, 'exp', extract(epoch from exp)::bigint, 'kind', '${model}',
                     'accountId', pg_temp.account_id(pg_temp.grant_account(g)), 'clientId', pg_temp.client_id(pg_temp.grant_client(g)),
                     'grantId', pg_temp.grant_id(g), 'scope', 'openid email profile schools', 'sessionUid', pg_temp.session_uid(g),
                     'expiresWithSession', false, 'gty', 'authorization_code', 'sid', substr(md5('sid:' || g), 1, 21),
                     'acr', 'urn:gatehouse:password', 'amr', '["pwd"]'::jsonb, 'authTime', extract(epoch from exp)::bigint - ${TTL[model]}),
                   pg_temp.grant_id(g), exp,
                   CASE WHEN '${model}' <> 'AccessToken' AND pg_temp.rnd('cons:' || n) < ${model === 'AuthorizationCode' ? 0.8 : 0.5} THEN exp - interval '1 second' * ${TTL[model]} + interval '30 seconds' END
              FROM ${tokenStart(model)},
                   LATERAL (SELECT 1 + floor(${VOLUME.tokens.Grant} * power(pg_temp.rnd('tg:${model}:' || n), 1.3))::int AS g,
                                   pg_temp.expiry('te:${model}:' || n, ${TTL[model]}) AS exp) AS t`,
    })),
    {
      name: `${v.tokens.Session} Session rows`,
      sql: `INSERT INTO oidc_payloads (model, id, payload, uid, expires_at)
            SELECT 'Session', pg_temp.bearer('Session', n), jsonb_build_object(
                     'iat', extract(epoch from exp)::bigint - ${TTL.Session}, 'exp', extract(epoch from exp)::bigint, 'kind', 'Session',
                     'uid', pg_temp.session_uid(n), 'accountId', pg_temp.account_id(pg_temp.grant_account(n)),
                     'loginTs', extract(epoch from exp)::bigint - ${TTL.Session}, 'acr', 'urn:gatehouse:password', 'amr', '["pwd"]'::jsonb,
                     'authorizations', ${sessionAuthorizations}),
                   pg_temp.session_uid(n), exp
              FROM ${tokenStart('Session')}, LATERAL (SELECT pg_temp.expiry('se:' || n, ${TTL.Session}) AS exp) AS e`,
    },
    {
      name: `${v.tokens.Interaction} Interaction rows`,
      sql: `INSERT INTO oidc_payloads (model, id, payload, uid, expires_at)
            SELECT 'Interaction', pg_temp.bearer('Interaction', n), jsonb_build_object(
                     'iat', extract(epoch from exp)::bigint - ${TTL.Interaction}, 'exp', extract(epoch from exp)::bigint, 'kind', 'Interaction',
                     'uid', substr(md5('iuid:' || n), 1, 21), 'returnTo', 'v1.' || md5('rt:' || n) || md5('rt2:' || n),
                     'prompt', jsonb_build_object('name', 'login', 'reasons', '["no_session"]'::jsonb, 'details', '{}'::jsonb),
                     'params', jsonb_build_object('client_id', pg_temp.client_id(pg_temp.grant_client(n)), 'scope', 'openid email profile schools',
                                                  'response_type', 'code', 'redirect_uri', 'https://app.example.com/callback', 'state', md5('st:' || n),
                                                  'nonce', md5('no:' || n), 'code_challenge', md5('cc:' || n), 'code_challenge_method', 'S256'),
                     'session', jsonb_build_object('uid', pg_temp.session_uid(n), 'accountId', CASE WHEN n % 3 = 0 THEN pg_temp.account_id(pg_temp.grant_account(n)) END)),
                   substr(md5('iuid:' || n), 1, 21), exp
              FROM ${tokenStart('Interaction')}, LATERAL (SELECT pg_temp.expiry('ie:' || n, ${TTL.Interaction}) AS exp) AS e`,
    },
    {
      name: `${v.tokens.ClientCredentials} ClientCredentials rows`,
      sql: `INSERT INTO oidc_payloads (model, id, payload, expires_at)
            SELECT 'ClientCredentials', pg_temp.bearer('ClientCredentials', n), jsonb_build_object(
                     'iat', extract(epoch from exp)::bigint - ${TTL.ClientCredentials}, 'exp', extract(epoch from exp)::bigint,
                     'kind', 'ClientCredentials', 'clientId', pg_temp.client_id(${v.interactiveClients} + 1 + floor(pg_temp.rnd('ccc:' || n) * ${v.clients - v.interactiveClients})::int),
                     'scope', 'api', 'extra', '{}'::jsonb),
                   exp
              FROM ${tokenStart('ClientCredentials')}, LATERAL (SELECT pg_temp.expiry('cce:' || n, ${TTL.ClientCredentials}) AS exp) AS e`,
    },
    {
      name: `${v.grantSchools} grant_schools`,
      sql: `INSERT INTO grant_schools (grant_id, school_id, chosen_at)
            SELECT pg_temp.grant_id(n * 10), pg_temp.school_id(pg_temp.primary_school(pg_temp.grant_account(n * 10))),
                   now() - make_interval(days => (pg_temp.rnd('gsc:' || n) * 14)::int)
              FROM generate_series(1, ${v.grantSchools}) AS n`,
    },
    {
      // 90 days, in time order as the table fills; the kinds of event in a plausible mix.
      name: `${v.auditEvents} audit_events`,
      sql: `INSERT INTO audit_events (at, event, outcome, reason, account_id, email, email_normalised, school_id, client_id, ip, detail)
            SELECT at, kind.event, kind.outcome, kind.reason,
                   CASE WHEN kind.event IN ('keys.rotate', 'client.secret') OR (kind.event = 'sign_in.password' AND kind.outcome = 'failure' AND n % 3 = 0)
                        THEN NULL ELSE pg_temp.account_id(a) END,
                   typed, typed,
                   CASE WHEN kind.event IN ('sign_in.authorized', 'member.add', 'member.change', 'member.remove', 'member.invite', 'admin.read')
                             AND kind.outcome = 'success' THEN pg_temp.school_id(pg_temp.primary_school(a)) END,
                   CASE WHEN kind.event IN ('sign_in.authorized', 'client.secret') THEN pg_temp.client_id(pg_temp.grant_client(n)) END,
                   '10.' || (n % 250) || '.' || ((n / 250) % 250) || '.' || (a % 250),
                   CASE WHEN kind.event = 'sign_in.authorized' AND kind.outcome = 'success' THEN '{"acr":"urn:gatehouse:password","amr":["pwd"]}'::jsonb END
              FROM generate_series(1, ${v.auditEvents}) AS n,
                   LATERAL (SELECT now() - make_interval(secs => ${v.auditDays * 86_400} * (1 - n::float8 / ${v.auditEvents}) + pg_temp.rnd('at:' || n) * 60) AS at,
                                   pg_temp.grant_account(n) AS a,
                                   width_bucket(pg_temp.rnd('ev:' || n), ARRAY[${AUDIT_MIX.map(([share]) => share).join(', ')}]::float8[]) AS bucket) AS p,
                   LATERAL (SELECT (ARRAY[${AUDIT_MIX.map(([, event]) => `'${event}'`).join(', ')}])[p.bucket] AS event,
                                   (ARRAY[${AUDIT_MIX.map(([, event]) => `'${event === 'sign_in.authorized:failure' || event === 'sign_in.password:failure' ? 'failure' : 'success'}'`).join(', ')}])[p.bucket] AS outcome) AS raw,
                   LATERAL (SELECT split_part(raw.event, ':', 1) AS event, raw.outcome,
                                   CASE raw.event WHEN 'sign_in.authorized:failure' THEN 'access_denied' WHEN 'sign_in.password:failure' THEN 'wrong_password' END AS reason) AS kind,
                   LATERAL (SELECT CASE WHEN kind.event IN ('sign_in.password', 'password_reset.request', 'member.add', 'user.lock', 'user.unlock')
                                        THEN pg_temp.account_email(a) END AS typed) AS t`,
    },
    {
      // About half the accounts have a device; one in ten of those a second.
      name: 'authenticator_devices',
      sql: `INSERT INTO authenticator_devices (id, account_id, name, secret_sealed, created_at, last_used_at, last_used_step)
            SELECT md5('device:' || n || ':' || d)::uuid, pg_temp.account_id(n), CASE d WHEN 1 THEN 'Phone' ELSE 'Backup phone' END,
                   'v1.' || md5('totp:' || n || ':' || d), now() - make_interval(days => (pg_temp.rnd('dc:' || n) * 500)::int),
                   now() - make_interval(hours => (pg_temp.rnd('du:' || n) * 500)::int), 58000000 + n
              FROM generate_series(1, ${v.accounts}) AS n, LATERAL generate_series(1, CASE WHEN n % 20 = 0 THEN 2 ELSE 1 END) AS d
             WHERE n % 2 = 0`,
    },
    {
      // Windows per subject and IP (or device) over the last day and a half; some locked, some stale.
      name: `${v.throttleWindows} auth_throttle windows`,
      sql: `INSERT INTO auth_throttle (key, count, window_started_at, locked_until)
            SELECT CASE WHEN n % 10 = 0 THEN 'password:login:' || pg_temp.bearer('unknown', n) || ':ip:10.9.' || (n % 250) || '.' || (n / 250 % 250)
                        WHEN n % 10 = 1 THEN 'code:account:' || pg_temp.account_id(n) || ':ip:10.8.' || (n % 250) || '.1'
                        WHEN n % 10 = 2 THEN 'reset:account:' || pg_temp.account_id(n) || ':day'
                        WHEN n % 10 = 3 THEN 'password:account:' || pg_temp.account_id(n) || ':device:' || md5('dev:' || n)
                        ELSE 'password:account:' || pg_temp.account_id(n) || ':ip:10.7.' || (n % 250) || '.' || (n / 250 % 250) END,
                   1 + (n % 7), started, CASE WHEN n % 50 = 0 THEN started + interval '15 minutes' END
              FROM generate_series(1, ${v.throttleWindows}) AS n,
                   LATERAL (SELECT now() - make_interval(secs => pg_temp.rnd('tw:' || n) * 129600) AS started) AS s`,
    },
    {
      // Accounts' streaks, and many unknown addresses (credential stuffing) the sweeper forgets after a while.
      name: `${v.failureStreaks} auth_failure_streaks`,
      sql: `INSERT INTO auth_failure_streaks (key, count, last_failed_at, locked_at, warned_at)
            SELECT CASE WHEN n % 5 = 0 THEN 'password:account:' || pg_temp.account_id(n)
                        WHEN n % 5 = 1 THEN 'code:account:' || pg_temp.account_id(n)
                        ELSE 'password:login:' || pg_temp.bearer('unknown', n) END,
                   1 + n % 12, failed, CASE WHEN n % 5 < 2 AND n % 40 = 0 THEN failed END, CASE WHEN n % 12 > 6 THEN failed END
              FROM generate_series(1, ${v.failureStreaks}) AS n,
                   LATERAL (SELECT now() - make_interval(secs => pg_temp.rnd('fs:' || n) * 60 * 86400) AS failed) AS f`,
    },
    {
      // Links live an hour and are kept a day past expiry: the table holds about a day of them.
      name: `${v.resetTokens} password_reset_tokens`,
      sql: `INSERT INTO password_reset_tokens (id, account_id, token_hash, interaction_uid, expires_at, used_at, created_at)
            SELECT md5('reset:' || n)::uuid, pg_temp.account_id(1 + (n * 7) % ${v.accounts}), pg_temp.bearer('reset', n),
                   CASE WHEN n % 2 = 0 THEN substr(md5('iuid:' || n), 1, 21) END, created + interval '1 hour',
                   CASE WHEN n % 10 < 6 THEN created + interval '5 minutes' END, created
              FROM generate_series(1, ${v.resetTokens}) AS n,
                   LATERAL (SELECT now() - make_interval(secs => pg_temp.rnd('rt:' || n) * 26 * 3600) AS created) AS c`,
    },
    {
      name: 'admin_roles',
      sql: `INSERT INTO admin_roles (id, account_id, client_id, role, school_id)
            SELECT md5('role:helpdesk:' || n)::uuid, pg_temp.account_id(n * 1000), NULL, 'helpdesk', NULL FROM generate_series(1, 20) AS n
            UNION ALL
            SELECT md5('role:school:' || s || ':' || k)::uuid, pg_temp.account_id(1 + (s * 37 + k * 11) % ${v.accounts}), NULL, 'school-admin', pg_temp.school_id(s)
              FROM generate_series(1, ${v.schools}) AS s, generate_series(1, 1 + s % 2) AS k
            UNION ALL
            SELECT md5('role:client:' || c)::uuid, NULL, pg_temp.client_id(c), CASE WHEN c % 2 = 0 THEN 'helpdesk' ELSE 'school-admin' END,
                   CASE WHEN c % 2 = 0 THEN NULL ELSE pg_temp.school_id(c) END
              FROM generate_series(${v.clients - 19}, ${v.clients}) AS c`,
    },
    {
      name: `${v.sessionProofs} session_proofs`,
      sql: `INSERT INTO session_proofs (session_uid, account_id, factor, device_id, proven_at)
            SELECT pg_temp.session_uid(n), pg_temp.account_id(pg_temp.grant_account(n)), 'password', NULL,
                   now() - make_interval(secs => pg_temp.rnd('sp:' || n) * 5400)
              FROM generate_series(1, ${v.sessionProofs}) AS n`,
    },
    {
      name: `${v.outboundDeliveries} outbound_deliveries`,
      sql: `INSERT INTO outbound_deliveries (kind, client_id, account_id, destination, payload, status, attempts, next_attempt_at, created_at, finished_at)
            SELECT 'backchannel_logout', pg_temp.client_id(4 * (1 + n % 100)), pg_temp.account_id(1 + n % ${v.accounts}),
                   'https://app' || (4 * (1 + n % 100)) || '.example.com/logout', jsonb_build_object('sid', md5('bsid:' || n)),
                   CASE WHEN n % 200 = 0 THEN 'pending' WHEN n % 50 = 0 THEN 'given_up' ELSE 'delivered' END, 1 + n % 3,
                   created + interval '10 seconds', created, CASE WHEN n % 200 <> 0 THEN created + interval '2 seconds' END
              FROM generate_series(1, ${v.outboundDeliveries}) AS n,
                   LATERAL (SELECT now() - make_interval(secs => pg_temp.rnd('od:' || n) * 8 * 86400) AS created) AS c`,
    },
  ];
}

const say = (line: string) => process.stdout.write(`${line}\n`);

async function applyMigrations(databaseUrl: string): Promise<void> {
  const database = await openDatabase({ databaseUrl, dataDir: os.tmpdir(), poolSize: 2 });
  try {
    await database.migrate();
  } finally {
    await database.close();
  }
}

async function seed(databaseUrl: string): Promise<void> {
  const started = Date.now();
  await applyMigrations(databaseUrl);
  say(`migrations applied (${Date.now() - started} ms)`);
  // One plain connection with no statement timeout: the application's pool gives up after 15 s.
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const [{ count }] = (await client.query<{ count: string }>('SELECT count(*) AS count FROM accounts')).rows as [{ count: string }];
    if (Number(count) > 0) throw new Error('This database already has accounts: seed a fresh one (dropdb, createdb).');
    // Scratch data: losing it in a crash costs nothing, and the commits are many and large.
    await client.query('SET synchronous_commit = off');
    await client.query("SET maintenance_work_mem = '256MB'");
    for (const helper of HELPERS) await client.query(helper);
    for (const step of steps()) {
      const at = Date.now();
      const result = await client.query(step.sql);
      say(`${step.name}: ${result.rowCount} rows (${((Date.now() - at) / 1000).toFixed(1)} s)`);
    }
    const at = Date.now();
    // Statistics and the visibility map as a database in steady state has them.
    await client.query('VACUUM (ANALYZE)');
    say(`vacuum analyze (${((Date.now() - at) / 1000).toFixed(1)} s)`);
    const sizes = await client.query<{ table: string; rows: string; size: string }>(
      `SELECT c.relname AS table, c.reltuples::bigint AS rows, pg_size_pretty(pg_total_relation_size(c.oid)) AS size
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY pg_total_relation_size(c.oid) DESC`,
    );
    for (const row of sizes.rows) say(`  ${row.table.padEnd(24)} ${row.rows.padStart(9)} rows  ${row.size}`);
    say(`seeded in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    await client.end();
  }
}

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('Set DATABASE_URL to a scratch database, e.g. postgresql://postgres@127.0.0.1:5432/gatehouse_volume');
  process.exit(2);
}
await seed(databaseUrl);
