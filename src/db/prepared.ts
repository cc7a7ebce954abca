import type pg from 'pg';
import type { EntityManager, QueryRunner } from 'typeorm';

export type PreparedStatement = Readonly<{ name: string; text: string }>;

/**
 * Data sources whose connections all share one database session (the embedded database's socket
 * runs every connection in PGlite's single session): a name prepared by one connection would
 * collide with the same name from the next, so there every statement goes unnamed.
 */
const sharedSessions = new WeakSet<object>();

export function withoutNamedStatements(dataSource: object): void {
  sharedSessions.add(dataSource);
}

/**
 * The hottest statements (a token written or read on every grant) go to PostgreSQL as named
 * statements, parsed and planned once per connection instead of on every call. Inside a
 * transaction, and on the embedded database, they run as ordinary queries.
 */
export async function runPrepared(
  db: EntityManager,
  statement: PreparedStatement,
  values: unknown[],
): Promise<{ rows: Array<Record<string, unknown>>; rowCount: number }> {
  if (db.queryRunner) return unnamed(db.queryRunner, statement, values);
  if (sharedSessions.has(db.connection)) {
    const runner = db.connection.createQueryRunner();
    try {
      return await unnamed(runner, statement, values);
    } finally {
      await runner.release();
    }
  }
  const pool = (db.connection.driver as unknown as { master: pg.Pool }).master;
  const result = await pool.query({ name: statement.name, text: statement.text, values });
  return { rows: result.rows, rowCount: result.rowCount ?? 0 };
}

async function unnamed(runner: QueryRunner, statement: PreparedStatement, values: unknown[]) {
  const result = await runner.query(statement.text, values, true);
  return { rows: (result.records ?? []) as Array<Record<string, unknown>>, rowCount: result.affected ?? 0 };
}
