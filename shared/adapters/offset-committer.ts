export interface PartitionOffset {
  topic: string;
  partition: number;
  /** The next offset to read (the handled record's offset + 1), as Kafka commits it. */
  offset: string;
}

/**
 * Commits handled records' offsets off the consumer's path: a handler's record is marked, and the
 * marks gathered while a commit is on its way go out in the next one, only the newest per
 * partition (a partition is handled in order, so committing its newest handled record commits the
 * ones before it). A record is still committed only after its handler resolved; what is not
 * committed yet when a member dies or loses its partitions is delivered again, which consumers
 * already expect (at least once). Saves one request per record: under load the commit, not the
 * handler, was most of what a record cost.
 */
export class OffsetCommitter {
  private pending = new Map<string, PartitionOffset>();
  private committing: Promise<void> | undefined;

  /** `commit` reports its own failures and never rejects. */
  constructor(private readonly commit: (offsets: PartitionOffset[]) => Promise<void>) {}

  mark(offset: PartitionOffset): void {
    this.pending.set(`${offset.topic}\u0000${offset.partition}`, offset);
    // setImmediate: the records handled in the same turn share the first commit.
    this.committing ??= new Promise<void>((started) => setImmediate(started)).then(() =>
      this.loop(),
    );
  }

  /** Resolves once every offset marked so far has been committed (or its commit gave up). */
  async flush(): Promise<void> {
    while (this.committing) await this.committing;
  }

  private async loop(): Promise<void> {
    while (this.pending.size > 0) {
      const offsets = [...this.pending.values()];
      this.pending = new Map();
      await this.commit(offsets);
    }
    // No await between the emptiness check and this: a later mark() starts a new loop.
    this.committing = undefined;
  }
}
