import type { AdapterPayload } from 'oidc-provider';
import type { ChangeFeed } from './change-feed.ts';
import type { School } from './entities/index.ts';
import { ReadThroughCache } from './read-through-cache.ts';
import type { Repositories } from './repositories/index.ts';

/** What every request reads and almost nothing writes, kept per process and invalidated by the feed. */
export type Caches = ReturnType<typeof createCaches>;

export function createCaches(feed: ChangeFeed, repositories: Repositories) {
  // Unknown client ids are not kept: anyone can send random ones.
  const clients = new ReadThroughCache<AdapterPayload | undefined>({ keep: (client) => client !== undefined });
  const clientSchools = new ReadThroughCache<School[]>();
  feed.subscribe((change) => {
    if (change === null) {
      clients.clear();
      clientSchools.clear();
    } else if (change.topic === 'client') clients.forget(change.id);
    else if (change.topic === 'client-schools') clientSchools.forget(change.id);
  });
  return {
    clients,
    /** The schools a client serves (names included), for hosted pages and the audit trail. */
    schoolsOfClient: (clientId: string): Promise<School[]> =>
      clientSchools.get(clientId, () => repositories.clientSchools.schoolsOf(clientId)),
  };
}
