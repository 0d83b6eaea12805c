/**
 * Which records of each partition are handled, when records of different keys are handled at
 * once: the offset to commit is the one after the longest handled run from the start, so a record
 * still running (or retrying) holds back the commit of its partition and is read again by the
 * next member if this one goes, whatever finished after it.
 */
export class PartitionProgress {
  /** Per partition: offsets begun and not yet committable, in the order they were read. */
  private readonly open = new Map<string, { offsets: bigint[]; done: Set<bigint> }>();
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  /** Records begun and not finished, all partitions together. */
  get running(): number {
    return this.inFlight;
  }

  /** Resolves once fewer than `limit` records are running. */
  async room(): Promise<void> {
    while (this.inFlight >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
  }

  /** Records that the record at `offset` (read in offset order per partition) is being handled. */
  begin(partition: string, offset: bigint): void {
    let p = this.open.get(partition);
    if (!p) this.open.set(partition, (p = { offsets: [], done: new Set() }));
    p.offsets.push(offset);
    this.inFlight++;
  }

  /**
   * The record at `offset` finished: handled (`true`) or let go (`false`, never committed by this
   * member). Returns the offset to commit now (the next one to read), if the run grew.
   */
  finish(partition: string, offset: bigint, handled: boolean): bigint | undefined {
    this.inFlight--;
    this.waiting.shift()?.();
    const p = this.open.get(partition);
    if (!p || !handled) return undefined;
    p.done.add(offset);
    let next: bigint | undefined;
    while (p.offsets.length > 0 && p.done.has(p.offsets[0]!)) {
      const first = p.offsets.shift()!;
      p.done.delete(first);
      next = first + 1n;
    }
    if (p.offsets.length === 0) this.open.delete(partition);
    return next;
  }
}
