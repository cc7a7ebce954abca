import type { EntityManager } from 'typeorm';

/** A 15-minute window: how many events since it started, and a short lock it may have caused. */
export type WindowState = { count: number; lockedUntil: Date | null };
/** Consecutive failures that time does not clear; `lockedAt` once they reached the limit. */
export type StreakState = { count: number; lockedAt: Date | null };

/**
 * What the throttle needs from storage. PostgreSQL in production (counts shared by every
 * process); the unit tests use an in-memory store with a clock they control.
 */
export interface ThrottleStore {
  readWindows(keys: string[]): Promise<Map<string, WindowState>>;
  /** One more event in the window (a passed window starts again at 1); reaching `lockAt` locks for `lockSeconds`. */
  countWindow(key: string, windowSeconds: number, lockAt: number | null, lockSeconds: number): Promise<WindowState>;
  clearWindow(key: string): Promise<void>;
  readStreaks(keys: string[]): Promise<Map<string, StreakState>>;
  /** One more attempt that counts as a failure until a success takes it back (resetStreak). */
  countStreak(key: string): Promise<StreakState>;
  /** After a failure: locks those of the streaks that reached `lockAt`, until they are released. */
  lockStreaks(keys: string[], lockAt: number): Promise<void>;
  /** A success: the streak starts again, unless it is locked (only the helpdesk lifts that). */
  resetStreak(key: string): Promise<void>;
  /** True exactly once per streak, the first time its count is above `after`. */
  claimWarning(key: string, after: number): Promise<boolean>;
  /** Deletes windows and streaks whose key is one of `keys` or starts with one of them and ':'. */
  release(keys: string[]): Promise<number>;
}

/**
 * A new window starts when the old one has passed with no lock, or the moment its lock ends: a
 * lock lasts exactly as long as it says, and the first attempt after it is counted as the first.
 */
const FRESH_WINDOW = `((t.locked_until IS NULL AND t.window_started_at < now() - make_interval(secs => $2)) OR t.locked_until <= now())`;

/** Counters keyed by what is being guessed at (an account or address, per IP or trusted device). */
export class ThrottleRepository implements ThrottleStore {
  private readonly db: EntityManager;

  constructor(db: EntityManager) {
    this.db = db;
  }

  async readWindows(keys: string[]): Promise<Map<string, WindowState>> {
    const rows: Array<{ key: string; count: number; locked_until: Date | null }> = await this.db.query(
      `SELECT key, count, locked_until FROM auth_throttle WHERE key = ANY($1::text[])`,
      [keys],
    );
    return new Map(rows.map((row) => [row.key, { count: row.count, lockedUntil: row.locked_until }]));
  }

  /** In one statement (safe across processes), then the lock if this event reached it. See FRESH_WINDOW. */
  async countWindow(key: string, windowSeconds: number, lockAt: number | null, lockSeconds: number): Promise<WindowState> {
    const [row] = (await this.db.query(
      `INSERT INTO auth_throttle AS t (key, count, window_started_at) VALUES ($1, 1, now())
       ON CONFLICT (key) DO UPDATE SET
         count = CASE WHEN ${FRESH_WINDOW} THEN 1 ELSE t.count + 1 END,
         window_started_at = CASE WHEN ${FRESH_WINDOW} THEN now() ELSE t.window_started_at END,
         locked_until = CASE WHEN ${FRESH_WINDOW} THEN NULL ELSE t.locked_until END
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

  async clearWindow(key: string): Promise<void> {
    await this.db.query(`DELETE FROM auth_throttle WHERE key = $1`, [key]);
  }

  async readStreaks(keys: string[]): Promise<Map<string, StreakState>> {
    const rows: Array<{ key: string; count: number; locked_at: Date | null }> = await this.db.query(
      `SELECT key, count, locked_at FROM auth_failure_streaks WHERE key = ANY($1::text[])`,
      [keys],
    );
    return new Map(rows.map((row) => [row.key, { count: row.count, lockedAt: row.locked_at }]));
  }

  async countStreak(key: string): Promise<StreakState> {
    const [row] = (await this.db.query(
      `INSERT INTO auth_failure_streaks AS s (key, count, last_failed_at) VALUES ($1, 1, now())
       ON CONFLICT (key) DO UPDATE SET count = s.count + 1, last_failed_at = now()
       RETURNING count, locked_at`,
      [key],
    )) as Array<{ count: number; locked_at: Date | null }>;
    return { count: row!.count, lockedAt: row!.locked_at };
  }

  async lockStreaks(keys: string[], lockAt: number): Promise<void> {
    await this.db.query(
      `UPDATE auth_failure_streaks SET locked_at = now() WHERE key = ANY($1::text[]) AND locked_at IS NULL AND count >= $2`,
      [keys, lockAt],
    );
  }

  async resetStreak(key: string): Promise<void> {
    await this.db.query(`DELETE FROM auth_failure_streaks WHERE key = $1 AND locked_at IS NULL`, [key]);
  }

  async claimWarning(key: string, after: number): Promise<boolean> {
    const [, affected] = (await this.db.query(
      `UPDATE auth_failure_streaks SET warned_at = now() WHERE key = $1 AND warned_at IS NULL AND count > $2`,
      [key, after],
    )) as [unknown[], number];
    return affected > 0;
  }

  async release(keys: string[]): Promise<number> {
    const matches = `key = ANY($1::text[]) OR EXISTS (SELECT 1 FROM unnest($1::text[]) AS k WHERE starts_with(key, k || ':'))`;
    const [, windows] = (await this.db.query(`DELETE FROM auth_throttle WHERE ${matches}`, [keys])) as [unknown[], number];
    const [, streaks] = (await this.db.query(`DELETE FROM auth_failure_streaks WHERE ${matches}`, [keys])) as [unknown[], number];
    return windows + streaks;
  }

  /** Consecutive-failure rows under `prefix` last counted before `before`, locked or not. */
  async deleteStreaksUntouched(prefix: string, before: Date): Promise<number> {
    const [, affected] = (await this.db.query(`DELETE FROM auth_failure_streaks WHERE starts_with(key, $1) AND last_failed_at < $2`, [
      prefix,
      before,
    ])) as [unknown[], number];
    return affected;
  }

  /** Windows only: an account's streak is never forgotten with time (see the migration). */
  async deleteStale(before: Date): Promise<number> {
    const [, affected] = (await this.db.query(
      `DELETE FROM auth_throttle WHERE window_started_at < $1 AND coalesce(locked_until < now(), true)`,
      [before],
    )) as [unknown[], number];
    return affected;
  }
}
