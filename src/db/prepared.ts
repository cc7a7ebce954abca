import type pg from 'pg';
import type { EntityManager } from 'typeorm';

export type PreparedStatement = Readonly<{ name: string; text: string }>;

/**
 * The hottest statements (a token written or read on every grant) go to PostgreSQL as named
 * statements, parsed and planned once per connection instead of on every call. Inside a
 * transaction they run on its connection as ordinary queries.
 */
export async function runPrepared(
  db: EntityManager,
  statement: PreparedStatement,
  values: unknown[],
): Promise<{ rows: Array<Record<string, unknown>>; rowCount: number }> {
  if (db.queryRunner) {
    const result = await db.queryRunner.query(statement.text, values, true);
    return { rows: (result.records ?? []) as Array<Record<string, unknown>>, rowCount: result.affected ?? 0 };
  }
  const pool = (db.connection.driver as unknown as { master: pg.Pool }).master;
  const result = await pool.query({ name: statement.name, text: statement.text, values });
  return { rows: result.rows, rowCount: result.rowCount ?? 0 };
}
