import crypto from 'node:crypto';
import type { EntityManager } from 'typeorm';

export type AdminRoleName = 'helpdesk' | 'school-admin';

/** Who holds a role: a person (by account) or a machine client of the management API. */
export type RoleHolder = { accountId: string } | { clientId: string };

export type AdminRole = {
  id: string;
  role: AdminRoleName;
  schoolId: string | null;
  schoolName: string | null;
  accountId: string | null;
  email: string | null;
  clientId: string | null;
  createdAt: Date;
};

type Row = {
  id: string;
  role: AdminRoleName;
  school_id: string | null;
  school_name: string | null;
  account_id: string | null;
  email: string | null;
  client_id: string | null;
  created_at: Date;
};

const toRole = (row: Row): AdminRole => ({
  id: row.id,
  role: row.role,
  schoolId: row.school_id,
  schoolName: row.school_name,
  accountId: row.account_id,
  email: row.email,
  clientId: row.client_id,
  createdAt: row.created_at,
});

const holderColumns = (holder: RoleHolder): [string | null, string | null] =>
  'accountId' in holder ? [holder.accountId, null] : [null, holder.clientId];

const SELECT = `SELECT r.id, r.role, r.school_id, s.name AS school_name, r.account_id, a.email, r.client_id, r.created_at
                  FROM admin_roles r LEFT JOIN accounts a ON a.id = r.account_id LEFT JOIN schools s ON s.id = r.school_id`;

export class AdminRolesRepository {
  private readonly db: EntityManager;

  constructor(db: EntityManager) {
    this.db = db;
  }

  /** Grants the role unless held already; returns the grant's id either way. */
  async grant(holder: RoleHolder, role: AdminRoleName, schoolId: string | null): Promise<{ id: string; created: boolean }> {
    const [accountId, clientId] = holderColumns(holder);
    const inserted: Array<{ id: string }> = await this.db.query(
      `INSERT INTO admin_roles (id, account_id, client_id, role, school_id) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT DO NOTHING RETURNING id`,
      [crypto.randomUUID(), accountId, clientId, role, schoolId],
    );
    if (inserted[0]) return { id: inserted[0].id, created: true };
    const existing = await this.find(holder, role, schoolId);
    return { id: existing!.id, created: false };
  }

  async find(holder: RoleHolder, role: AdminRoleName, schoolId: string | null): Promise<AdminRole | null> {
    const [accountId, clientId] = holderColumns(holder);
    const rows: Row[] = await this.db.query(
      `${SELECT}
        WHERE r.account_id IS NOT DISTINCT FROM $1 AND r.client_id IS NOT DISTINCT FROM $2
          AND r.role = $3 AND r.school_id IS NOT DISTINCT FROM $4`,
      [accountId, clientId, role, schoolId],
    );
    return rows[0] ? toRole(rows[0]) : null;
  }

  async findById(id: string): Promise<AdminRole | null> {
    const rows: Row[] = await this.db.query(`${SELECT} WHERE r.id = $1`, [id]);
    return rows[0] ? toRole(rows[0]) : null;
  }

  /** Removes the grant; false when it was not held. */
  async revoke(holder: RoleHolder, role: AdminRoleName, schoolId: string | null): Promise<boolean> {
    const [accountId, clientId] = holderColumns(holder);
    const [, affected] = (await this.db.query(
      `DELETE FROM admin_roles
        WHERE account_id IS NOT DISTINCT FROM $1 AND client_id IS NOT DISTINCT FROM $2
          AND role = $3 AND school_id IS NOT DISTINCT FROM $4`,
      [accountId, clientId, role, schoolId],
    )) as [unknown[], number];
    return affected > 0;
  }

  async heldBy(holder: RoleHolder): Promise<AdminRole[]> {
    const [accountId, clientId] = holderColumns(holder);
    const rows: Row[] = await this.db.query(
      `${SELECT} WHERE ${accountId ? 'r.account_id = $1' : 'r.client_id = $1'} ORDER BY r.role, r.school_id NULLS FIRST`,
      [accountId ?? clientId],
    );
    return rows.map(toRole);
  }

  /** Every grant, in a stable order; at most `limit` after the cursor. */
  async page(options: { after: [string] | null; limit: number }): Promise<AdminRole[]> {
    const rows: Row[] = await this.db.query(`${SELECT} WHERE ($1::uuid IS NULL OR r.id > $1::uuid) ORDER BY r.id LIMIT $2`, [
      options.after?.[0] ?? null,
      options.limit,
    ]);
    return rows.map(toRole);
  }
}
