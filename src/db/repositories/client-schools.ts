import type { EntityManager } from 'typeorm';
import type { School } from '../entities/index.ts';

export class ClientSchoolsRepository {
  private readonly db: EntityManager;

  constructor(db: EntityManager) {
    this.db = db;
  }

  async link(clientId: string, schoolIds: string[]): Promise<void> {
    for (const schoolId of schoolIds) {
      await this.db.query(`INSERT INTO client_schools (client_id, school_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [clientId, schoolId]);
    }
  }

  /** False when the client was not linked to the school. */
  async unlink(clientId: string, schoolId: string): Promise<boolean> {
    const [, affected] = (await this.db.query(`DELETE FROM client_schools WHERE client_id = $1 AND school_id = $2`, [
      clientId,
      schoolId,
    ])) as [unknown[], number];
    return affected > 0;
  }

  async schoolsOf(clientId: string): Promise<School[]> {
    const rows: Array<{ id: string; name: string; postcode: string; created_at: Date }> = await this.db.query(
      `SELECT s.id, s.name, s.postcode, s.created_at
         FROM client_schools cs JOIN schools s ON s.id = cs.school_id
        WHERE cs.client_id = $1
        ORDER BY s.name, s.id`,
      [clientId],
    );
    return rows.map((row) => ({ id: row.id, name: row.name, postcode: row.postcode, createdAt: row.created_at }));
  }
}

export class ClientLoginUrisRepository {
  private readonly db: EntityManager;

  constructor(db: EntityManager) {
    this.db = db;
  }

  /** For each school, the initiate_login_uri of a client serving it (OIDC third-party initiated login). */
  async bySchool(schoolIds: string[]): Promise<Map<string, string>> {
    if (schoolIds.length === 0) return new Map();
    const rows: Array<{ school_id: string; login_uri: string }> = await this.db.query(
      `SELECT DISTINCT ON (cs.school_id) cs.school_id, p.payload->>'initiate_login_uri' AS login_uri
         FROM client_schools cs
         JOIN oidc_payloads p ON p.model = 'Client' AND p.id = cs.client_id
        WHERE cs.school_id = ANY($1::uuid[]) AND p.payload ? 'initiate_login_uri'
        ORDER BY cs.school_id, cs.client_id`,
      [schoolIds],
    );
    return new Map(rows.map((row) => [row.school_id, row.login_uri]));
  }
}
