/**
 * The lowest messaging port: keyed records on named topics, consumed by groups. Kafka and the
 * in-memory broker implement it; the command and event buses are built on top, so validation,
 * dead-lettering and idempotency are written once.
 */

export interface BrokerRecord {
  topic: string;
  partition: number;
  /** Kafka offsets are 64-bit; kept as a decimal string. */
  offset: string;
  key: string | null;
  value: Buffer | null;
}

/**
 * Called for each record, in order per partition, at least once (again after a crash or a
 * rebalance that interrupted it). The record is committed only after the promise resolves. A handler that rejects is retried with backoff (the record is not skipped):
 * handlers decide themselves what is poison and dead-letter it.
 */
export type RecordHandler = (record: BrokerRecord) => Promise<void>;

export interface Subscription {
  /**
   * Stops consuming and leaves the group. Idempotent. A handler still running gets a grace period
   * (the adapter's `drainTimeoutMs`); if it has not resolved by then its record stays uncommitted
   * and goes to the next member of the group, as after a crash.
   */
  stop(): Promise<void>;
}

export interface TopicBroker {
  /**
   * Resolves once the broker has durably accepted the record (acks from all in-sync replicas).
   * The topic is created on first use. A rejection does not prove the record was not written:
   * producing it again may duplicate it, which consumers detect by the envelope `id`.
   */
  produce(topic: string, key: string | null, value: Buffer | string): Promise<void>;
  /**
   * Joins `group` and consumes `topics` (created if missing) from the earliest uncommitted offset;
   * resolves once this member has its share of the partitions. Records with the same key go to the
   * same partition and are delivered in the order they were produced. Members of one group share
   * the partitions; every group gets every record.
   */
  subscribe(
    options: { topics: string[]; group: string },
    handler: RecordHandler,
  ): Promise<Subscription>;
  /**
   * Stops every subscription (as `stop()` does) and disconnects. Idempotent. Afterwards `produce`
   * and `subscribe` reject with code `broker_closed`.
   */
  close(): Promise<void>;
}
