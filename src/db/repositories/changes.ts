import type { EntityManager } from 'typeorm';

/** The PostgreSQL channel every Gatehouse process listens on for changes to what it caches. */
export const CHANGES_CHANNEL = 'gatehouse_changes';

/** What changed: a client's metadata or secret, the schools a client serves, the signing keys. */
export type Change = { topic: 'client' | 'client-schools'; id: string } | { topic: 'keys' };

export class ChangesRepository {
  private readonly db: EntityManager;

  constructor(db: EntityManager) {
    this.db = db;
  }

  /** In a transaction PostgreSQL delivers it at commit, and never if the transaction rolls back. */
  async announce(change: Change): Promise<void> {
    await this.db.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, JSON.stringify(change)]);
  }
}
