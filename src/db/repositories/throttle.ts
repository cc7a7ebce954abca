import type { EntityManager } from 'typeorm';

export type ThrottleState = { count: number; lockedUntil: Date | null };

/** Counters keyed by what is being guessed at (a login name, an IP, a mailbox). */
export class ThrottleRepository {
  private readonly db: EntityManager;

  constructor(db: EntityManager) {
    this.db = db;
  }

  async read(keys: string[]): Promise<Map<string, ThrottleState>> {
    const rows: Array<{ key: string; count: number; locked_until: Date | null }> = await this.db.query(
      `SELECT key, count, locked_until FROM auth_throttle WHERE key = ANY($1::text[])`,
      [keys],
    );
    return new Map(rows.map((row) => [row.key, { count: row.count, lockedUntil: row.locked_until }]));
  }

  /**
   * Counts one more event in one statement (safe across processes): a window that has passed
   * starts again at 1; reaching `lockAt` locks the key for `lockSeconds`.
   */
  async increment(key: string, windowSeconds: number, lockAt: number | null, lockSeconds: number): Promise<ThrottleState> {
    const [row] = (await this.db.query(
      `INSERT INTO auth_throttle AS t (key, count, window_started_at) VALUES ($1, 1, now())
       ON CONFLICT (key) DO UPDATE SET
         count = CASE WHEN t.window_started_at < now() - make_interval(secs => $2) AND coalesce(t.locked_until < now(), true)
                      THEN 1 ELSE t.count + 1 END,
         window_started_at = CASE WHEN t.window_started_at < now() - make_interval(secs => $2) AND coalesce(t.locked_until < now(), true)
                      THEN now() ELSE t.window_started_at END
       RETURNING count, locked_until`,
      [key, windowSeconds],
    )) as Array<{ count: number; locked_until: Date | null }>;
    let lockedUntil = row!.locked_until;
    if (lockAt !== null && row!.count >= lockAt) {
      const [locked] = (await this.db.query(
        `UPDATE auth_throttle SET locked_until = now() + make_interval(secs => $2) WHERE key = $1 RETURNING locked_until`,
        [key, lockSeconds],
      )) as [Array<{ locked_until: Date }>, number];
      lockedUntil = locked[0]?.locked_until ?? lockedUntil;
    }
    return { count: row!.count, lockedUntil };
  }

  async decrement(key: string): Promise<void> {
    await this.db.query(`UPDATE auth_throttle SET count = greatest(count - 1, 0) WHERE key = $1`, [key]);
  }

  async clear(key: string): Promise<void> {
    await this.db.query(`DELETE FROM auth_throttle WHERE key = $1`, [key]);
  }

  async deleteStale(before: Date): Promise<number> {
    const [, affected] = (await this.db.query(
      `DELETE FROM auth_throttle WHERE window_started_at < $1 AND coalesce(locked_until < now(), true)`,
      [before],
    )) as [unknown[], number];
    return affected;
  }
}
