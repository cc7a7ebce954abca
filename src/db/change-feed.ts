import pg from 'pg';
import type { Logger } from 'pino';
import { CHANGES_CHANNEL, type Change } from './repositories/changes.ts';

/** `null`: anything may have changed (a missed notification, or the periodic refresh). */
export type ChangeListener = (change: Change | null) => void;

type FeedOptions = {
  connectionString: string;
  refreshSeconds: number;
  /**
   * False on the embedded database: its socket runs every connection in one PGlite session, so a
   * notification goes back to the connection that sent it, not to listeners. There the periodic
   * refresh alone carries changes between processes, so it runs often.
   */
  listen: boolean;
  logger: Logger;
};

const RECONNECT_DELAYS_MS = [100, 500, 1_000, 2_000, 5_000];

/**
 * Every process hears about changes to what it caches: its own at once (`local`), other
 * processes' through PostgreSQL LISTEN/NOTIFY. After a lost connection, and every
 * `refreshSeconds` in any case, listeners are told that anything may have changed, so a missed
 * notification costs staleness for a bounded time, never forever.
 */
export class ChangeFeed {
  private readonly listeners = new Set<ChangeListener>();
  private readonly options: FeedOptions;
  private connection: pg.Client | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = false;

  constructor(options: FeedOptions) {
    this.options = options;
  }

  subscribe(listener: ChangeListener): void {
    this.listeners.add(listener);
  }

  /** A change this process made: applied here without waiting for PostgreSQL to echo it back. */
  local(change: Change): void {
    this.dispatch(change);
  }

  async start(): Promise<void> {
    this.refreshTimer = setInterval(() => this.dispatch(null), this.options.refreshSeconds * 1000);
    this.refreshTimer.unref();
    if (this.options.listen) await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.refreshTimer);
    clearTimeout(this.reconnectTimer);
    const connection = this.connection;
    this.connection = undefined;
    await connection?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const connection = new pg.Client({
      connectionString: this.options.connectionString,
      connectionTimeoutMillis: 5_000,
      // So operators (and tests) can tell it apart in pg_stat_activity.
      application_name: 'gatehouse-changes',
    });
    connection.on('notification', (message) => {
      if (message.channel === CHANGES_CHANNEL) this.dispatch(parseChange(message.payload));
    });
    connection.on('error', (error) => this.lost(connection, error));
    connection.on('end', () => this.lost(connection));
    try {
      await connection.connect();
      await connection.query(`LISTEN ${CHANGES_CHANNEL}`);
    } catch (error) {
      this.lost(connection, error);
      return;
    }
    this.connection = connection;
    if (this.failures > 0) this.options.logger.info('listening for changes again');
    this.failures = 0;
    // Whatever was announced while nobody listened was missed.
    this.dispatch(null);
  }

  private lost(connection: pg.Client, error?: unknown): void {
    if (this.stopped || (this.connection !== connection && this.connection !== undefined)) return;
    this.connection = undefined;
    connection.removeAllListeners('end');
    connection.end().catch(() => undefined);
    if (this.reconnectTimer) return;
    const delay = RECONNECT_DELAYS_MS[Math.min(this.failures, RECONNECT_DELAYS_MS.length - 1)]!;
    if (this.failures === 0) this.options.logger.warn({ err: error }, 'lost the change notifications; reconnecting');
    this.failures++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.connect();
    }, delay);
    this.reconnectTimer.unref();
  }

  private dispatch(change: Change | null): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (error) {
        this.options.logger.error({ err: error }, 'a cache could not apply a change');
      }
    }
  }
}

/** Anything unreadable counts as "anything may have changed": wider, never narrower. */
function parseChange(payload: string | undefined): Change | null {
  try {
    const change = JSON.parse(payload ?? '') as Change;
    if (change.topic === 'keys') return change;
    if ((change.topic === 'client' || change.topic === 'client-schools') && typeof change.id === 'string') return change;
  } catch {
    // fall through
  }
  return null;
}
