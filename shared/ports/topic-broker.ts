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
 * Called once per record, in order per partition. The record is committed only after the
 * promise resolves. A handler that rejects is retried with backoff (the record is not skipped):
 * handlers decide themselves what is poison and dead-letter it.
 */
export type RecordHandler = (record: BrokerRecord) => Promise<void>;

export interface Subscription {
  /** Stops consuming and leaves the group. Idempotent. */
  stop(): Promise<void>;
}

export interface TopicBroker {
  /** Resolves once the broker has durably accepted the record (acks from all in-sync replicas). */
  produce(topic: string, key: string | null, value: Buffer | string): Promise<void>;
  /**
   * Joins `group` and consumes `topics` from the earliest uncommitted offset. Records with the
   * same key are delivered in the order they were produced.
   */
  subscribe(options: { topics: string[]; group: string }, handler: RecordHandler): Promise<Subscription>;
  /** Flushes, stops every subscription and disconnects. Idempotent. */
  close(): Promise<void>;
}
