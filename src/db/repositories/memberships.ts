import type { EntityManager } from 'typeorm';
import type { AccessLevel, School } from '../entities/index.ts';

export type SchoolMembership = { school: School; accessLevel: AccessLevel };

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
