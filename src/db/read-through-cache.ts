/**
 * Values read from the database that rarely change, kept in this process until a change is
 * announced (ChangeFeed). A read that started before a change was forgotten is returned but not
 * kept, so a value read just before a change never outlives it.
 */
export class ReadThroughCache<V> {
  private readonly entries = new Map<string, V>();
  private readonly maxEntries: number;
  private readonly keep: (value: V) => boolean;
  private generation = 0;

  /** `keep`: which values to cache (e.g. not "no such client": anyone can ask for random ids). */
  constructor(options: { maxEntries?: number; keep?: (value: V) => boolean } = {}) {
    this.maxEntries = options.maxEntries ?? 10_000;
    this.keep = options.keep ?? (() => true);
  }

  async get(key: string, load: () => Promise<V>): Promise<V> {
    if (this.entries.has(key)) return this.entries.get(key) as V;
    const startedAt = this.generation;
    const value = await load();
    if (startedAt === this.generation && this.keep(value)) {
      // A bound, not an eviction policy: only a flood of distinct keys (which must exist) reaches it.
      if (this.entries.size >= this.maxEntries) this.entries.clear();
      this.entries.set(key, value);
    }
    return value;
  }

  forget(key: string): void {
    this.generation++;
    this.entries.delete(key);
  }

  clear(): void {
    this.generation++;
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
