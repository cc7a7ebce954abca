type Pending<T> = { item: T; done: () => void; failed: (error: unknown) => void };

/**
 * Group commit: items written while a write is in flight go together in the next statement, so
 * under load a table costs one round trip (and one commit) per batch rather than per item, and
 * when idle an item is written at once. `write` settles when its own item is written: resolved,
 * or rejected with the error if it could not be — a batch that fails is retried item by item,
 * so one bad item never costs the others theirs.
 */
export class GroupCommit<T> {
  private readonly writeMany: (items: readonly T[]) => Promise<void>;
  private readonly maxBatch: number;
  private queue: Array<Pending<T>> = [];
  private flushing: Promise<void> | undefined;

  constructor(writeMany: (items: readonly T[]) => Promise<void>, maxBatch: number) {
    this.writeMany = writeMany;
    this.maxBatch = maxBatch;
  }

  write(item: T): Promise<void> {
    return new Promise((done, failed) => {
      this.queue.push({ item, done, failed });
      this.flushing ??= this.flush();
    });
  }

  /** Resolves once everything written so far, and during, has been written or has failed. */
  async drain(): Promise<void> {
    for (let flushing = this.flushing; flushing !== undefined; flushing = this.flushing) await flushing;
  }

  private async flush(): Promise<void> {
    // Let every item written in this turn of the event loop join the first batch.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.queue.length > 0) await this.writeBatch(this.queue.splice(0, this.maxBatch));
    this.flushing = undefined;
  }

  private async writeBatch(batch: Array<Pending<T>>): Promise<void> {
    try {
      await this.writeMany(batch.map((pending) => pending.item));
    } catch (error) {
      if (batch.length === 1) {
        batch[0]?.failed(error);
        return;
      }
      for (const pending of batch) await this.writeBatch([pending]);
      return;
    }
    for (const pending of batch) pending.done();
  }
}
