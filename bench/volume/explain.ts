/**
 * The query plans of Gatehouse's hot statements against a seeded database (bench/volume/seed.ts):
 *
 *   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/gatehouse_volume node bench/volume/explain.ts \
 *     [--json results.json] [--compare before.json]
 *
 * The statements are not copied here: each case calls the real repository method (inside a
 * transaction that is rolled back) and records the SQL and parameters it sends, so the plans are
 * those of the code as it is. Each recorded statement is then run under
 * EXPLAIN (ANALYZE, BUFFERS), again rolled back, a few times; the table shows the median time,
 * the plan's nodes, and any sequential scan of a big table.
 */
import fs from 'node:fs/promises';
import { DataSource, type Logger, type QueryRunner } from 'typeorm';
import { releaseKeys } from '../../src/auth/throttle.ts';
import { entities } from '../../src/db/entities/index.ts';
import { type Repositories, repositoriesFor } from '../../src/db/repositories/index.ts';

/** Tables with more rows than this count as big: a sequential scan of one is reported. */
const BIG_TABLE_ROWS = 10_000;
/** Slower than this (median, milliseconds) is reported too. */
const SLOW_MS = 5;
const RUNS = 5;

type Recorded = { sql: string; parameters: unknown[] };

/** Realistic parameters, read from the seeded data. */
type Samples = Awaited<ReturnType<typeof readSamples>>;

type Case = { name: string; run: (repositories: Repositories, samples: Samples) => Promise<unknown> };

type PlanNode = {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  Plans?: PlanNode[];
};

export type Result = {
  statement: string;
  sql: string;
  ms: number;
  nodes: string[];
  bigSeqScans: string[];
  flagged: boolean;
};

/** Records what the repositories send while `recording` is set. */
class RecordingLogger implements Logger {
  recording: Recorded[] | null = null;

  logQuery(query: string, parameters?: unknown[]): void {
    if (this.recording && !/^(START TRANSACTION|COMMIT|ROLLBACK)/.test(query)) {
      this.recording.push({ sql: query, parameters: parameters ?? [] });
    }
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}

const one = async <T>(runner: QueryRunner | DataSource, sql: string, parameters: unknown[] = []): Promise<T> => {
  const rows = (await runner.query(sql, parameters)) as T[];
  if (!rows[0]) throw new Error(`No sample for: ${sql}`);
  return rows[0];
};

async function readSamples(db: DataSource) {
  type Id = { id: string };
  const account = await one<{ id: string; email: string }>(
    db,
    `SELECT id, email FROM accounts WHERE password_hash IS NOT NULL AND status = 'active' ORDER BY id OFFSET 4321 LIMIT 1`,
  );
  // The busiest account: the most grants, tokens and events (the worst case of a revocation).
  const busy = await one<{ id: string; email: string }>(
    db,
    `SELECT a.id, a.email FROM accounts a
      WHERE a.id = (SELECT (payload->>'accountId')::uuid FROM oidc_payloads WHERE model = 'Grant' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1)`,
  );
  const busySchools = (await db.query(`SELECT school_id FROM memberships WHERE account_id = $1`, [busy.id])) as Array<{
    school_id: string;
  }>;
  const manySchools = await one<{ account_id: string }>(
    db,
    `SELECT account_id FROM memberships GROUP BY 1 ORDER BY count(*) DESC, account_id LIMIT 1`,
  );
  const manySchoolIds = (
    (await db.query(`SELECT school_id FROM memberships WHERE account_id = $1`, [manySchools.account_id])) as Array<{ school_id: string }>
  ).map((row) => row.school_id);
  const bigSchool = await one<{ school_id: string }>(db, `SELECT school_id FROM memberships GROUP BY 1 ORDER BY count(*) DESC LIMIT 1`);
  const typicalSchool = await one<{ school_id: string }>(
    db,
    `SELECT school_id FROM memberships GROUP BY 1 ORDER BY count(*), school_id OFFSET 1000 LIMIT 1`,
  );
  // A national system serving every school, with the most grants; a machine client with the most tokens.
  const bigClient = await one<{ client_id: string }>(
    db,
    `SELECT payload->>'clientId' AS client_id FROM oidc_payloads WHERE model = 'Grant' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1`,
  );
  const smallClient = await one<{ client_id: string }>(
    db,
    `SELECT client_id FROM client_schools GROUP BY 1 ORDER BY count(*), client_id LIMIT 1`,
  );
  const machineClient = await one<{ client_id: string }>(
    db,
    `SELECT payload->>'clientId' AS client_id FROM oidc_payloads WHERE model = 'ClientCredentials' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1`,
  );
  const byModel = (model: string, extra = '') =>
    one<Id>(db, `SELECT id FROM oidc_payloads WHERE model = $1 ${extra} ORDER BY expires_at DESC NULLS LAST, id LIMIT 1`, [model]);
  const accessToken = await byModel('AccessToken');
  const session = await one<Id & { uid: string }>(
    db,
    `SELECT id, uid FROM oidc_payloads WHERE model = 'Session' ORDER BY expires_at DESC, id LIMIT 1`,
  );
  const code = await byModel('AuthorizationCode', 'AND consumed_at IS NULL');
  const interaction = await byModel('Interaction');
  const grant = await one<{ grant_id: string }>(
    db,
    `SELECT grant_id FROM oidc_payloads WHERE grant_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1`,
  );
  const chosenGrant = await one<{ grant_id: string }>(db, `SELECT grant_id FROM grant_schools ORDER BY grant_id LIMIT 1`);
  // What one sweep finds: the rows that expired during one sweep interval (5 minutes).
  const sweep = await one<{ before: Date }>(db, `SELECT min(expires_at) + interval '5 minutes' AS before FROM oidc_payloads`);
  const windowKey = await one<{ key: string }>(db, `SELECT key FROM auth_throttle WHERE key LIKE 'password:account:%:ip:%' LIMIT 1`);
  const streakKey = await one<{ key: string }>(db, `SELECT key FROM auth_failure_streaks WHERE key LIKE 'password:account:%' LIMIT 1`);
  const streakAccount = streakKey.key.slice('password:account:'.length);
  const resetToken = await one<{ token_hash: string; account_id: string }>(
    db,
    `SELECT token_hash, account_id FROM password_reset_tokens WHERE used_at IS NULL ORDER BY expires_at DESC LIMIT 1`,
  );
  const device = await one<{ id: string; account_id: string }>(db, `SELECT id, account_id FROM authenticator_devices ORDER BY id LIMIT 1`);
  const proof = await one<{ session_uid: string; account_id: string }>(db, `SELECT session_uid, account_id FROM session_proofs LIMIT 1`);
  const schoolAdmin = await one<{ account_id: string }>(db, `SELECT account_id FROM admin_roles WHERE role = 'school-admin' LIMIT 1`);
  const roleClient = await one<{ client_id: string }>(db, `SELECT client_id FROM admin_roles WHERE client_id IS NOT NULL LIMIT 1`);
  // A cursor deep in the trail (the 1000th newest event), and one deep in a school's trail.
  const deepCursor = await one<{ at: string; id: string }>(
    db,
    `SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at, id::text FROM audit_events ORDER BY at DESC, id DESC OFFSET 1000 LIMIT 1`,
  );
  const schoolCursor = await one<{ at: string; id: string }>(
    db,
    `SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at, id::text FROM audit_events
      WHERE school_id = $1 ORDER BY at DESC, id DESC OFFSET 200 LIMIT 1`,
    [bigSchool.school_id],
  );
  const staffCursor = await one<{ email_normalised: string; id: string }>(
    db,
    `SELECT a.email_normalised, a.id FROM memberships m JOIN accounts a ON a.id = m.account_id
      WHERE m.school_id = $1 ORDER BY a.email_normalised, a.id OFFSET 200 LIMIT 1`,
    [bigSchool.school_id],
  );
  const importEmails = (
    (await db.query(`SELECT email_normalised FROM accounts ORDER BY id OFFSET 20000 LIMIT 100`)) as Array<{ email_normalised: string }>
  ).map((row) => row.email_normalised);
  const schoolIds = ((await db.query(`SELECT id FROM schools ORDER BY id LIMIT 20`)) as Id[]).map((row) => row.id);
  return {
    account,
    busy,
    busySchool: busySchools[0]?.school_id ?? bigSchool.school_id,
    manySchools: { accountId: manySchools.account_id, schoolIds: manySchoolIds },
    bigSchool: bigSchool.school_id,
    typicalSchool: typicalSchool.school_id,
    bigClient: bigClient.client_id,
    smallClient: smallClient.client_id,
    machineClient: machineClient.client_id,
    accessToken: accessToken.id,
    session,
    code: code.id,
    interaction: interaction.id,
    grant: grant.grant_id,
    chosenGrant: chosenGrant.grant_id,
    sweepBefore: sweep.before,
    windowKey: windowKey.key,
    streakKey: streakKey.key,
    streakAccount,
    resetToken,
    device,
    proof,
    schoolAdmin: schoolAdmin.account_id,
    roleClient: roleClient.client_id,
    deepCursor: [deepCursor.at, deepCursor.id] as [string, string],
    schoolCursor: [schoolCursor.at, schoolCursor.id] as [string, string],
    staffCursor: [staffCursor.email_normalised, staffCursor.id] as [string, string],
    importEmails,
    schoolIds,
  };
}

const DAY = 86_400_000;
const PAGE = 51; // pageOf asks for one row more than the default page of 50.

/** Every hot path, as the code calls it. */
const CASES: Case[] = [
  // oidc-provider's adapter: every request.
  { name: 'oidc.find AccessToken', run: (r, s) => r.oidcPayloads.find('AccessToken', s.accessToken) },
  { name: 'oidc.find Session', run: (r, s) => r.oidcPayloads.find('Session', s.session.id) },
  { name: 'oidc.find Client', run: (r, s) => r.oidcPayloads.find('Client', s.bigClient) },
  { name: 'oidc.findBy Session uid', run: (r, s) => r.oidcPayloads.findBy('Session', 'uid', s.session.uid) },
  {
    name: 'oidc.upsert AccessToken (new)',
    run: (r, s) =>
      r.oidcPayloads.upsert(
        'AccessToken',
        'bench-new-token',
        { accountId: s.account.id },
        { grantId: s.grant },
        new Date(Date.now() + 600_000),
      ),
  },
  {
    name: 'oidc.upsert Session (existing)',
    run: (r, s) =>
      r.oidcPayloads.upsert('Session', s.session.id, { accountId: s.account.id }, { uid: s.session.uid }, new Date(Date.now() + 3_600_000)),
  },
  {
    name: 'oidc.update Session (keep-alive)',
    run: (r, s) => r.oidcPayloads.update('Session', s.session.id, { accountId: s.account.id }, new Date(Date.now() + 3_600_000)),
  },
  { name: 'oidc.consume AuthorizationCode', run: (r, s) => r.oidcPayloads.consume('AuthorizationCode', s.code) },
  { name: 'oidc.destroy Interaction', run: (r, s) => r.oidcPayloads.destroy('Interaction', s.interaction) },
  { name: 'oidc.revokeByGrantId (busiest grant)', run: (r, s) => r.oidcPayloads.revokeByGrantId(s.grant) },
  { name: 'oidc.revokeAccount (busiest account)', run: (r, s) => r.oidcPayloads.revokeAccount(s.busy.id) },
  { name: 'oidc.revokeSchoolGrants', run: (r, s) => r.oidcPayloads.revokeSchoolGrants(s.busy.id, s.busySchool) },
  { name: 'oidc.revokeClientCredentials', run: (r, s) => r.oidcPayloads.revokeClientCredentials(s.machineClient) },
  { name: 'oidc.listUnhashed (each start)', run: (r) => r.oidcPayloads.listUnhashed(500) },
  { name: 'sweeper: oidc.deleteExpired', run: (r, s) => r.oidcPayloads.deleteExpired(s.sweepBefore) },
  { name: 'sweeper: grantSchools.deleteOrphans', run: (r) => r.grantSchools.deleteOrphans() },
  { name: 'grantSchools.get', run: (r, s) => r.grantSchools.get(s.chosenGrant) },
  // Sign-in and claims.
  { name: 'accounts.findById', run: (r, s) => r.accounts.findById(s.account.id) },
  { name: 'accounts.findByEmail', run: (r, s) => r.accounts.findByEmail(s.account.email.toUpperCase()) },
  { name: 'accounts.setPasswordHash', run: (r, s) => r.accounts.setPasswordHash(s.account.id, '$argon2id$v=19$m=19456,t=2,p=1$x$y') },
  { name: 'accounts.setSessionsNotBefore', run: (r, s) => r.accounts.setSessionsNotBefore(s.account.id) },
  { name: 'memberships.listForAccount', run: (r, s) => r.memberships.listForAccount(s.manySchools.accountId) },
  { name: 'memberships.listAtClientSchools', run: (r, s) => r.memberships.listAtClientSchools(s.manySchools.accountId, s.bigClient) },
  { name: 'memberships.atAnyOf', run: (r, s) => r.memberships.atAnyOf(s.manySchools.accountId, s.schoolIds) },
  { name: 'clientLoginUris.bySchool', run: (r, s) => r.clientLoginUris.bySchool(s.manySchools.schoolIds) },
  { name: 'clientSchools.schoolsOf (national client)', run: (r, s) => r.clientSchools.schoolsOf(s.bigClient) },
  { name: 'clientSchools.schoolsOf (one school)', run: (r, s) => r.clientSchools.schoolsOf(s.smallClient) },
  { name: 'schools.findByIds', run: (r, s) => r.schools.findByIds(s.manySchools.schoolIds) },
  { name: 'authenticators.listForAccount', run: (r, s) => r.authenticators.listForAccount(s.device.account_id) },
  { name: 'authenticators.countForAccount', run: (r, s) => r.authenticators.countForAccount(s.device.account_id) },
  { name: 'authenticators.markStepUsed', run: (r, s) => r.authenticators.markStepUsed(s.device.id, 99_999_999) },
  { name: 'sessionProofs.latest', run: (r, s) => r.sessionProofs.latest(s.proof.session_uid, s.proof.account_id) },
  {
    name: 'sessionProofs.record',
    run: (r, s) => r.sessionProofs.record(s.proof.session_uid, s.proof.account_id, 'password', null, new Date()),
  },
  { name: 'sweeper: sessionProofs.deleteOlderThan', run: (r) => r.sessionProofs.deleteOlderThan(new Date(Date.now() - 3_600_000)) },
  // Guessing and lockout.
  { name: 'throttle.readWindows', run: (r, s) => r.throttle.readWindows([s.windowKey, `${s.windowKey}:x`, 'password:login:x:ip:1.1.1.1']) },
  { name: 'throttle.countWindow', run: (r, s) => r.throttle.countWindow(s.windowKey, 900, 1, 900) },
  { name: 'throttle.clearWindow', run: (r, s) => r.throttle.clearWindow(s.windowKey) },
  { name: 'throttle.readStreaks', run: (r, s) => r.throttle.readStreaks([s.streakKey, `code:account:${s.streakAccount}`]) },
  { name: 'throttle.countStreak', run: (r, s) => r.throttle.countStreak(s.streakKey) },
  { name: 'throttle.lockStreaks', run: (r, s) => r.throttle.lockStreaks([s.streakKey], 1) },
  { name: 'throttle.resetStreak', run: (r, s) => r.throttle.resetStreak(s.streakKey) },
  { name: 'throttle.claimWarning', run: (r, s) => r.throttle.claimWarning(s.streakKey, 0) },
  { name: 'throttle.release (user unlock)', run: (r, s) => r.throttle.release(releaseKeys(s.streakAccount)) },
  { name: 'sweeper: throttle.deleteStale', run: (r) => r.throttle.deleteStale(new Date(Date.now() - DAY)) },
  {
    name: 'sweeper: throttle.deleteStreaksUntouched',
    run: (r) => r.throttle.deleteStreaksUntouched('password:login:', new Date(Date.now() - 30 * DAY)),
  },
  // Password links.
  { name: 'resetTokens.insert', run: (r, s) => insertResetToken(r, s) },
  { name: 'resetTokens.findByHash', run: (r, s) => r.resetTokens.findByHash(s.resetToken.token_hash) },
  { name: 'resetTokens.spend', run: (r, s) => r.resetTokens.spend(s.resetToken.token_hash) },
  { name: 'resetTokens.spendAllFor', run: (r, s) => r.resetTokens.spendAllFor(s.resetToken.account_id) },
  { name: 'sweeper: resetTokens.deleteExpired', run: (r) => r.resetTokens.deleteExpired(new Date(Date.now() - DAY)) },
  // The audit trail: written on every sign-in, read by the helpdesk and school administrators.
  {
    name: 'audit.insert',
    run: (r, s) =>
      r.audit.insert({
        event: 'sign_in.authorized',
        outcome: 'success',
        accountId: s.account.id,
        schoolId: s.bigSchool,
        clientId: s.bigClient,
        ip: '10.0.0.1',
      }),
  },
  { name: 'audit.forAccount (busiest, 20)', run: (r, s) => r.audit.forAccount(s.busy.id, s.busy.email, 20) },
  { name: 'audit.lastSignIn (helpdesk)', run: (r, s) => r.audit.lastSignIn(s.account.id, null) },
  { name: 'audit.lastSignIn (school admin)', run: (r, s) => r.audit.lastSignIn(s.account.id, [s.typicalSchool]) },
  { name: 'audit.page: everything, first page', run: (r) => r.audit.page({ accountId: null }, { after: null, limit: PAGE }) },
  { name: 'audit.page: everything, deep cursor', run: (r, s) => r.audit.page({ accountId: null }, { after: s.deepCursor, limit: PAGE }) },
  { name: 'audit.page: by school', run: (r, s) => r.audit.page({ accountId: null, schoolId: s.bigSchool }, { after: null, limit: PAGE }) },
  {
    name: 'audit.page: by school, cursor',
    run: (r, s) => r.audit.page({ accountId: null, schoolId: s.bigSchool }, { after: s.schoolCursor, limit: PAGE }),
  },
  {
    name: 'audit.page: school admin scope (5 schools)',
    run: (r, s) => r.audit.page({ accountId: null, schoolIds: s.manySchools.schoolIds }, { after: null, limit: PAGE }),
  },
  {
    name: 'audit.page: school admin scope, 1 school',
    run: (r, s) => r.audit.page({ accountId: null, schoolIds: [s.typicalSchool] }, { after: null, limit: PAGE }),
  },
  {
    name: 'audit.page: by email (account)',
    run: (r, s) => r.audit.page({ accountId: s.busy.id, email: s.busy.email }, { after: null, limit: PAGE }),
  },
  {
    name: 'audit.page: by email, school admin scope',
    run: (r, s) =>
      r.audit.page({ accountId: s.account.id, email: s.account.email, schoolIds: [s.typicalSchool] }, { after: null, limit: PAGE }),
  },
  { name: 'audit.page: by event (rare)', run: (r) => r.audit.page({ accountId: null, event: 'user.lock' }, { after: null, limit: PAGE }) },
  {
    name: 'audit.page: by event (rarest)',
    run: (r) => r.audit.page({ accountId: null, event: 'keys.rotate' }, { after: null, limit: PAGE }),
  },
  {
    // A typo, or an event that has not happened yet: nothing matches, so nothing stops the scan early.
    name: 'audit.page: by event (none match)',
    run: (r) => r.audit.page({ accountId: null, event: 'sign_in.authorised' }, { after: null, limit: PAGE }),
  },
  {
    name: 'audit.page: by event (common)',
    run: (r) => r.audit.page({ accountId: null, event: 'sign_in.authorized' }, { after: null, limit: PAGE }),
  },
  {
    name: 'audit.page: by event (rare), school',
    run: (r, s) => r.audit.page({ accountId: null, event: 'member.remove', schoolId: s.bigSchool }, { after: null, limit: PAGE }),
  },
  {
    name: 'audit.page: school admin scope, 1 school, event',
    run: (r, s) => r.audit.page({ accountId: null, event: 'member.remove', schoolIds: [s.typicalSchool] }, { after: null, limit: PAGE }),
  },
  {
    name: 'audit.page: by time (a day, 30 days ago)',
    run: (r) =>
      r.audit.page(
        { accountId: null, since: new Date(Date.now() - 31 * DAY), until: new Date(Date.now() - 30 * DAY) },
        { after: null, limit: PAGE },
      ),
  },
  {
    name: 'audit.page: by event (rare) and time',
    run: (r) =>
      r.audit.page(
        { accountId: null, event: 'user.lock', since: new Date(Date.now() - 31 * DAY), until: new Date(Date.now() - 30 * DAY) },
        { after: null, limit: PAGE },
      ),
  },
  // Administration: lists with search, roles, people.
  { name: 'adminRoles.heldBy (account)', run: (r, s) => r.adminRoles.heldBy({ accountId: s.schoolAdmin }) },
  { name: 'adminRoles.heldBy (client)', run: (r, s) => r.adminRoles.heldBy({ clientId: s.roleClient }) },
  { name: 'adminRoles.page', run: (r) => r.adminRoles.page({ after: null, limit: PAGE }) },
  { name: 'adminRoles.find', run: (r, s) => r.adminRoles.find({ accountId: s.schoolAdmin }, 'helpdesk', null) },
  { name: 'adminRoles.revoke', run: (r, s) => r.adminRoles.revoke({ accountId: s.schoolAdmin }, 'helpdesk', null) },
  {
    name: 'memberships.pageForSchool (largest school)',
    run: (r, s) => r.memberships.pageForSchool(s.bigSchool, { search: undefined, after: null, limit: PAGE }),
  },
  {
    name: 'memberships.pageForSchool, cursor',
    run: (r, s) => r.memberships.pageForSchool(s.bigSchool, { search: undefined, after: s.staffCursor, limit: PAGE }),
  },
  {
    name: "memberships.pageForSchool, search 'smith'",
    run: (r, s) => r.memberships.pageForSchool(s.bigSchool, { search: 'smith', after: null, limit: PAGE }),
  },
  { name: 'memberships.get', run: (r, s) => r.memberships.get(s.manySchools.accountId, s.manySchools.schoolIds.at(0) ?? s.typicalSchool) },
  { name: 'memberships.upsert', run: (r, s) => r.memberships.upsert(s.account.id, s.bigSchool, 'higher') },
  { name: 'staffImport.known (100 addresses)', run: (r, s) => r.staffImport.known(s.bigSchool, s.importEmails) },
  { name: 'schools.page', run: (r) => r.schools.page({ within: null, search: undefined, after: null, limit: PAGE }) },
  { name: "schools.page, search 'leeds'", run: (r) => r.schools.page({ within: null, search: 'leeds', after: null, limit: PAGE }) },
  {
    name: 'schools.page, within 5 schools',
    run: (r, s) => r.schools.page({ within: s.manySchools.schoolIds, search: undefined, after: null, limit: PAGE }),
  },
  { name: 'clients.page', run: (r) => r.clients.page({ search: undefined, after: null, limit: PAGE }) },
  { name: "clients.page, search 'platform'", run: (r) => r.clients.page({ search: 'platform', after: null, limit: PAGE }) },
  { name: 'clients.find', run: (r, s) => r.clients.find(s.bigClient) },
  // Back-channel logout queue (polled by every process).
  { name: 'outbound.claimDue', run: (r) => r.outboundDeliveries.claimDue(10, 30, 'bench') },
  { name: 'outbound.nextDueAt', run: (r) => r.outboundDeliveries.nextDueAt() },
  { name: 'sweeper: outbound.deleteFinished', run: (r) => r.outboundDeliveries.deleteFinished(new Date(Date.now() - 7 * DAY)) },
];

function insertResetToken(r: Repositories, s: Samples) {
  return r.resetTokens.insert({
    id: crypto.randomUUID(),
    accountId: s.account.id,
    tokenHash: `bench-${crypto.randomUUID()}`,
    interactionUid: null,
    clientId: null,
    schoolId: null,
    expiresAt: new Date(Date.now() + 3_600_000),
  });
}

class Rollback extends Error {}

/** The statements one case sends, recorded while it runs in a transaction that is then undone. */
async function record(db: DataSource, logger: RecordingLogger, samples: Samples, testCase: Case): Promise<Recorded[]> {
  const recorded: Recorded[] = [];
  try {
    await db.transaction(async (manager) => {
      logger.recording = recorded;
      try {
        await testCase.run(repositoriesFor(manager), samples);
      } finally {
        logger.recording = null;
      }
      throw new Rollback();
    });
  } catch (error) {
    if (!(error instanceof Rollback)) throw error;
  }
  return recorded;
}

type Explained = { 'Execution Time': number; Plan: PlanNode };

/** The statement's plan (from its last run) and its median execution time over RUNS runs. */
async function explain(db: DataSource, statement: Recorded): Promise<{ plan: PlanNode; ms: number }> {
  const runs: Explained[] = [];
  for (let run = 0; run < RUNS; run++) {
    const runner = db.createQueryRunner();
    try {
      await runner.startTransaction();
      const rows = (await runner.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${statement.sql}`, statement.parameters)) as Array<{
        'QUERY PLAN': Explained[];
      }>;
      runs.push(...(rows[0]?.['QUERY PLAN'] ?? []));
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
  }
  const last = runs.at(-1);
  if (!last) throw new Error(`No plan for: ${statement.sql}`);
  return { plan: last.Plan, ms: median(runs.map((explained) => explained['Execution Time'])) };
}

function walk(node: PlanNode, visit: (node: PlanNode) => void): void {
  visit(node);
  for (const child of node.Plans ?? []) walk(child, visit);
}

function describe(node: PlanNode): string {
  const on = node['Index Name'] ?? node['Relation Name'];
  return on ? `${node['Node Type']} (${on})` : node['Node Type'];
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

const oneLine = (sql: string) => sql.replace(/\s+/g, ' ').trim();

async function bigTables(db: DataSource): Promise<Set<string>> {
  const rows = (await db.query(
    `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.reltuples > $1`,
    [BIG_TABLE_ROWS],
  )) as Array<{ relname: string }>;
  return new Set(rows.map((row) => row.relname));
}

async function run(databaseUrl: string, options: { json: string | undefined; compare: string | undefined }): Promise<void> {
  const logger = new RecordingLogger();
  const db = new DataSource({ type: 'postgres', url: databaseUrl, entities, logger, synchronize: false, extra: { max: 2 } });
  await db.initialize();
  try {
    const samples = await readSamples(db);
    const big = await bigTables(db);
    const results: Result[] = [];
    for (const testCase of CASES) {
      const statements = await record(db, logger, samples, testCase);
      for (const [index, statement] of statements.entries()) {
        const { plan, ms } = await explain(db, statement);
        const nodes: string[] = [];
        const bigSeqScans: string[] = [];
        walk(plan, (node) => {
          nodes.push(describe(node));
          if (node['Node Type'] === 'Seq Scan' && node['Relation Name'] && big.has(node['Relation Name'])) {
            bigSeqScans.push(`${node['Relation Name']} (${(node['Actual Rows'] ?? 0) * (node['Actual Loops'] ?? 1)} rows out)`);
          }
        });
        const statementName = statements.length > 1 ? `${testCase.name} #${index + 1}` : testCase.name;
        results.push({
          statement: statementName,
          sql: oneLine(statement.sql),
          ms,
          nodes,
          bigSeqScans,
          flagged: bigSeqScans.length > 0 || ms > SLOW_MS,
        });
      }
    }
    const before = options.compare ? (JSON.parse(await fs.readFile(options.compare, 'utf8')) as Result[]) : null;
    printTable(results, before);
    if (options.json) await fs.writeFile(options.json, `${JSON.stringify(results, null, 2)}\n`);
  } finally {
    await db.destroy();
  }
}

function printTable(results: Result[], before: Result[] | null): void {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const beforeMs = new Map(before?.map((result) => [result.statement, result.ms]));
  out(before ? '| statement | before ms | after ms | plan | big seq scan |' : '| statement | ms | plan | big seq scan |');
  out(before ? '|---|---:|---:|---|---|' : '|---|---:|---|---|');
  for (const result of results) {
    const flag = result.flagged ? ' ⚠' : '';
    const plan = [...new Set(result.nodes)].join(' → ');
    const scans = result.bigSeqScans.join(', ') || '–';
    const was = beforeMs.get(result.statement);
    const times = before ? `${was === undefined ? '–' : was.toFixed(3)} | ${result.ms.toFixed(3)}` : result.ms.toFixed(3);
    out(`| ${result.statement}${flag} | ${times} | ${plan} | ${scans} |`);
  }
  const flagged = results.filter((result) => result.flagged);
  out(`\n${results.length} statements; ${flagged.length} with a sequential scan of a big table or slower than ${SLOW_MS} ms.`);
}

function option(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('Set DATABASE_URL to a database seeded by bench/volume/seed.ts.');
  process.exit(2);
}
await run(databaseUrl, { json: option('--json'), compare: option('--compare') });
