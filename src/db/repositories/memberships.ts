import type { EntityManager } from 'typeorm';
import type { AccessLevel, School } from '../entities/index.ts';
import { containsPattern } from './like.ts';

export type SchoolMembership = { school: School; accessLevel: AccessLevel };

/** A member of staff as a school's list shows them. */
export type StaffMember = {
  accountId: string;
  email: string;
  name: string | null;
  accessLevel: AccessLevel;
  status: 'active' | 'locked';
  /** False until the person has set a password through the first-time email. */
  hasPassword: boolean;
  addedAt: Date;
};

type StaffRow = {
  account_id: string;
  email: string;
  email_normalised: string;
  name: string | null;
  access_level: AccessLevel;
  status: 'active' | 'locked';
  has_password: boolean;
  created_at: Date;
};

type MembershipRow = {
  id: string;
  name: string;
  postcode: string;
  created_at: Date;
  access_level: AccessLevel;
};

const toMembership = (row: MembershipRow): SchoolMembership => ({
  school: { id: row.id, name: row.name, postcode: row.postcode, createdAt: row.created_at },
  accessLevel: row.access_level,
});

const STAFF_SELECT = `SELECT a.id AS account_id, a.email, a.email_normalised, a.name, m.access_level, a.status,
                              a.password_hash IS NOT NULL AS has_password, m.created_at
                         FROM memberships m JOIN accounts a ON a.id = m.account_id`;

const toStaffMember = (row: StaffRow): StaffMember => ({
  accountId: row.account_id,
  email: row.email,
  name: row.name,
  accessLevel: row.access_level,
  status: row.status,
  hasPassword: row.has_password,
  addedAt: row.created_at,
});

export class MembershipsRepository {
  private readonly db: EntityManager;

  constructor(db: EntityManager) {
    this.db = db;
  }

  /** Adding a membership that exists changes its access level. */
  async upsert(accountId: string, schoolId: string, accessLevel: AccessLevel): Promise<void> {
    await this.db.query(
      `INSERT INTO memberships (account_id, school_id, access_level) VALUES ($1, $2, $3)
       ON CONFLICT (account_id, school_id) DO UPDATE SET access_level = EXCLUDED.access_level`,
      [accountId, schoolId, accessLevel],
    );
  }

  async get(accountId: string, schoolId: string): Promise<StaffMember | null> {
    const rows: StaffRow[] = await this.db.query(`${STAFF_SELECT} WHERE m.school_id = $1 AND m.account_id = $2`, [schoolId, accountId]);
    return rows[0] ? toStaffMember(rows[0]) : null;
  }

  /** Whether the account has a membership at any of the schools. */
  async atAnyOf(accountId: string, schoolIds: readonly string[]): Promise<boolean> {
    const rows = await this.db.query(`SELECT 1 FROM memberships WHERE account_id = $1 AND school_id = ANY($2::uuid[]) LIMIT 1`, [
      accountId,
      schoolIds,
    ]);
    return rows.length > 0;
  }

  /** False when there was no such membership. */
  async remove(accountId: string, schoolId: string): Promise<boolean> {
    const [, affected] = (await this.db.query(`DELETE FROM memberships WHERE account_id = $1 AND school_id = $2`, [
      accountId,
      schoolId,
    ])) as [unknown[], number];
    return affected > 0;
  }

  /**
   * A school's staff by normalised email, at most `limit` after the cursor (the last row's
   * normalised email and account id); `search` matches part of the email or the name.
   */
  async pageForSchool(
    schoolId: string,
    options: { search: string | undefined; after: [string, string] | null; limit: number },
  ): Promise<Array<StaffMember & { cursor: [string, string] }>> {
    const pattern = options.search ? containsPattern(options.search) : null;
    const rows: StaffRow[] = await this.db.query(
      `${STAFF_SELECT}
        WHERE m.school_id = $1
          AND ($2::text IS NULL OR a.email_normalised LIKE $2 OR lower(coalesce(a.name, '')) LIKE $2)
          AND ($3::text IS NULL OR (a.email_normalised, a.id) > ($3::text, $4::uuid))
        ORDER BY a.email_normalised, a.id LIMIT $5`,
      [schoolId, pattern, options.after?.[0] ?? null, options.after?.[1] ?? null, options.limit],
    );
    return rows.map((row) => ({ ...toStaffMember(row), cursor: [row.email_normalised, row.account_id] }));
  }

  async listForAccount(accountId: string): Promise<SchoolMembership[]> {
    const rows: MembershipRow[] = await this.db.query(
      `SELECT s.id, s.name, s.postcode, s.created_at, m.access_level
         FROM memberships m JOIN schools s ON s.id = m.school_id
        WHERE m.account_id = $1
        ORDER BY s.name, s.id`,
      [accountId],
    );
    return rows.map(toMembership);
  }

  /** The account's memberships at the schools a client serves, by school name. */
  async listAtClientSchools(accountId: string, clientId: string): Promise<SchoolMembership[]> {
    const rows: MembershipRow[] = await this.db.query(
      `SELECT s.id, s.name, s.postcode, s.created_at, m.access_level
         FROM memberships m
         JOIN client_schools cs ON cs.school_id = m.school_id
         JOIN schools s ON s.id = m.school_id
        WHERE m.account_id = $1 AND cs.client_id = $2
        ORDER BY s.name, s.id`,
      [accountId, clientId],
    );
    return rows.map(toMembership);
  }
}
