import type { EntityManager } from 'typeorm';

export class GrantSchoolsRepository {
  private readonly db: EntityManager;

  constructor(db: EntityManager) {
    this.db = db;
  }

  async get(grantId: string): Promise<string | null> {
    const rows: Array<{ school_id: string }> = await this.db.query(`SELECT school_id FROM grant_schools WHERE grant_id = $1`, [grantId]);
    return rows[0]?.school_id ?? null;
  }

  async set(grantId: string, schoolId: string): Promise<void> {
    await this.db.query(
      `INSERT INTO grant_schools (grant_id, school_id) VALUES ($1, $2)
       ON CONFLICT (grant_id) DO UPDATE SET school_id = EXCLUDED.school_id, chosen_at = now()`,
      [grantId, schoolId],
    );
  }

  /** Choices whose grant is gone (expired, revoked) mean nothing any more. */
  async deleteOrphans(): Promise<number> {
    const [, affected] = (await this.db.query(
      `DELETE FROM grant_schools g
        WHERE NOT EXISTS (SELECT 1 FROM oidc_payloads p WHERE p.model = 'Grant' AND p.id = g.grant_id)`,
    )) as [unknown[], number];
    return affected;
  }
}
