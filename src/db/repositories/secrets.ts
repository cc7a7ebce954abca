import type { EntityManager } from 'typeorm';

/** Stores already-encrypted values; encryption lives in src/auth/secret-box.ts. */
export class SecretsRepository {
  private readonly db: EntityManager;

  constructor(db: EntityManager) {
    this.db = db;
  }

  async get(name: string): Promise<string | null> {
    const rows: Array<{ value: string }> = await this.db.query(`SELECT value FROM secrets WHERE name = $1`, [name]);
    return rows[0]?.value ?? null;
  }

  async replace(name: string, value: string): Promise<void> {
    await this.db.query(`UPDATE secrets SET value = $2 WHERE name = $1`, [name, value]);
  }

  /** First writer wins, so processes starting together agree on one value. */
  async insertIfAbsent(name: string, value: string): Promise<void> {
    await this.db.query(`INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, [name, value]);
  }
}
