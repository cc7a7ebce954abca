import type { StreakState, ThrottleStore, WindowState } from '../../src/db/repositories/throttle.ts';

/**
 * The throttle's storage in memory, with a clock the test moves: for unit tests of the decisions
 * (lock expiry to the millisecond, day-long windows) without waiting. test/throttle.test.ts runs
 * the same contract against this and the PostgreSQL repository, so the two cannot drift apart.
 */
export class MemoryThrottleStore implements ThrottleStore {
  private readonly windows = new Map<string, { count: number; startedAt: number; lockedUntil: number | null }>();
  private readonly streaks = new Map<string, { count: number; lockedAt: number | null; warned: boolean }>();
  now: number;

  constructor(now = Date.parse('2026-01-05T09:00:00Z')) {
    this.now = now;
  }

  clock = () => new Date(this.now);

  advance(ms: number): void {
    this.now += ms;
  }

  async readWindows(keys: string[]): Promise<Map<string, WindowState>> {
    return new Map(keys.flatMap((key) => (this.windows.has(key) ? [[key, this.windowState(key)] as const] : [])));
  }

  async countWindow(key: string, windowSeconds: number, lockAt: number | null, lockSeconds: number): Promise<WindowState> {
    const row = this.windows.get(key);
    // As the SQL (FRESH_WINDOW): a window that has passed with no lock, or whose lock has ended, starts again at 1.
    const fresh =
      row &&
      ((row.lockedUntil === null && row.startedAt < this.now - windowSeconds * 1000) ||
        (row.lockedUntil !== null && row.lockedUntil <= this.now));
    if (!row || fresh) this.windows.set(key, { count: 1, startedAt: this.now, lockedUntil: null });
    else row.count += 1;
    const current = this.windows.get(key)!;
    if (lockAt !== null && current.count >= lockAt) current.lockedUntil = this.now + lockSeconds * 1000;
    return this.windowState(key);
  }

  async clearWindow(key: string): Promise<void> {
    this.windows.delete(key);
  }

  async readStreaks(keys: string[]): Promise<Map<string, StreakState>> {
    return new Map(keys.flatMap((key) => (this.streaks.has(key) ? [[key, this.streakState(key)] as const] : [])));
  }

  async countStreak(key: string): Promise<StreakState> {
    const row = this.streaks.get(key) ?? { count: 0, lockedAt: null, warned: false };
    row.count += 1;
    this.streaks.set(key, row);
    return this.streakState(key);
  }

  async lockStreaks(keys: string[], lockAt: number): Promise<void> {
    for (const key of keys) {
      const row = this.streaks.get(key);
      if (row && row.lockedAt === null && row.count >= lockAt) row.lockedAt = this.now;
    }
  }

  async resetStreak(key: string): Promise<void> {
    if (this.streaks.get(key)?.lockedAt === null) this.streaks.delete(key);
  }

  async claimWarning(key: string, after: number): Promise<boolean> {
    const row = this.streaks.get(key);
    if (!row || row.warned || row.count <= after) return false;
    row.warned = true;
    return true;
  }

  async release(keys: string[]): Promise<number> {
    let released = 0;
    for (const table of [this.windows, this.streaks] as Array<Map<string, unknown>>) {
      for (const key of [...table.keys()]) {
        if (keys.some((prefix) => key === prefix || key.startsWith(`${prefix}:`))) {
          table.delete(key);
          released += 1;
        }
      }
    }
    return released;
  }

  private windowState(key: string): WindowState {
    const row = this.windows.get(key)!;
    return { count: row.count, lockedUntil: row.lockedUntil === null ? null : new Date(row.lockedUntil) };
  }

  private streakState(key: string): StreakState {
    const row = this.streaks.get(key)!;
    return { count: row.count, lockedAt: row.lockedAt === null ? null : new Date(row.lockedAt) };
  }
}
