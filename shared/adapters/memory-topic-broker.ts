import { z } from 'zod';
import { RolloutError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import type {
  BrokerRecord,
  RecordHandler,
  Subscription,
  TopicBroker,
} from '../ports/topic-broker.js';
import { handleUntilDone, HandlerRetryOptions } from './handler-retry.js';

/**
 * A topic broker in process memory, for local mode and fast tests. It keeps Kafka's semantics
 * where the contract suite checks them: topics auto-created with 4 partitions, keys hashed to
 * partitions with Kafka's murmur2 (same partition as the Kafka adapter), committed offsets per
 * group, in-order delivery per partition, commit only after the handler resolves, a rejecting
 * handler retried with backoff, partitions shared among the members of a group. Nothing is
 * persisted: records and offsets live as long as the instance, and each partition keeps its
 * latest `retainRecords` records only (Kafka's retention, by count): local mode runs for weeks
 * without its memory growing with every health sample ever sent.
 */
export const MemoryTopicBrokerOptions = z.object({
  /** Partitions of an auto-created topic. Default 4, like the Kafka test broker. */
  partitions: z.number().int().min(1).max(1000).default(4),
  handlerRetry: HandlerRetryOptions.default({ initialMs: 200, maxMs: 30_000 }),
  /** How long `stop()`/`close()` wait for a running handler before leaving its record uncommitted. */
  drainTimeoutMs: z.number().int().nonnegative().default(10_000),
  /**
   * Records kept per partition; older ones are dropped, and a group behind them resumes at the
   * oldest kept (Kafka's `auto.offset.reset: earliest` after retention). Default 10,000.
   */
  retainRecords: z.number().int().min(1).default(10_000),
});
export type MemoryTopicBrokerOptions = z.input<typeof MemoryTopicBrokerOptions> & {
  logger?: Logger;
};

interface StoredRecord {
  offset: number;
  key: string | null;
  value: Buffer | null;
}

/** One partition's records from offset `base` on; offsets keep counting after old ones go. */
class PartitionLog {
  private records: StoredRecord[] = [];
  base = 0;

  constructor(private readonly retain: number) {}

  get end(): number {
    return this.base + this.records.length;
  }

  at(offset: number): StoredRecord | undefined {
    return this.records[offset - this.base];
  }

  append(key: string | null, value: Buffer): void {
    this.records.push({ offset: this.end, key, value });
    // Dropped a tenth at a time, so a full partition does not copy its array on every append.
    if (this.records.length > this.retain) {
      const drop = this.records.length - this.retain + Math.floor(this.retain / 10);
      this.records = this.records.slice(drop);
      this.base += drop;
    }
  }
}

export class MemoryTopicBroker implements TopicBroker {
  private readonly options: z.infer<typeof MemoryTopicBrokerOptions>;
  private readonly logger: Logger;
  private readonly topics = new Map<string, PartitionLog[]>();
  private readonly groups = new Map<string, MemoryGroup>();
  private nextUnkeyed = 0;
  private closed = false;

  constructor(options: MemoryTopicBrokerOptions = {}) {
    const { logger, ...rest } = options;
    const parsed = MemoryTopicBrokerOptions.safeParse(rest);
    if (!parsed.success) {
      throw new RolloutError(
        'invalid_config',
        `MemoryTopicBroker options: ${z.prettifyError(parsed.error)}`,
      );
    }
    this.options = parsed.data;
    this.logger = (logger ?? silentLogger).child({ component: 'memory-topic-broker' });
  }

  async produce(topic: string, key: string | null, value: Buffer | string): Promise<void> {
    this.assertOpen();
    const partitions = this.topic(topic);
    const partition =
      key === null
        ? this.nextUnkeyed++ % partitions.length
        : kafkaPartition(Buffer.from(key), partitions.length);
    (partitions[partition] as PartitionLog).append(key, Buffer.from(value));
    for (const group of this.groups.values()) group.wake(topic, partition);
  }

  async subscribe(
    options: { topics: string[]; group: string },
    handler: RecordHandler,
  ): Promise<Subscription> {
    this.assertOpen();
    if (options.topics.length === 0)
      throw new RolloutError('invalid_argument', 'no topics to subscribe to');
    let group = this.groups.get(options.group);
    if (!group) {
      group = new MemoryGroup(options.group, this);
      this.groups.set(options.group, group);
    }
    const member = new MemoryMember(
      [...new Set(options.topics)],
      handler,
      this.options,
      this.logger,
    );
    for (const topic of member.topics) this.topic(topic);
    group.join(member);
    const joined = group;
    return { stop: () => joined.leave(member) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.groups.values()].map((g) => g.close()));
  }

  /** Records produced to `topic` so far, those retention dropped included (its end offsets). */
  produced(topic: string): number {
    return (this.topics.get(topic) ?? []).reduce((sum, log) => sum + log.end, 0);
  }

  /** The partitions of `topic`, created on first use. */
  topic(name: string): PartitionLog[] {
    let partitions = this.topics.get(name);
    if (!partitions) {
      if (name.length === 0)
        throw new RolloutError('invalid_argument', 'a topic name cannot be empty');
      partitions = Array.from(
        { length: this.options.partitions },
        () => new PartitionLog(this.options.retainRecords),
      );
      this.topics.set(name, partitions);
    }
    return partitions;
  }

  /** A group fell behind retention: its unread records are gone. */
  warnDropped(group: string, partition: string, records: number): void {
    this.logger.warn(
      { group, partition, records },
      'records dropped by retention before this group read them',
    );
  }

  private assertOpen(): void {
    if (this.closed) throw new RolloutError('broker_closed', 'the memory topic broker is closed');
  }
}

/**
 * A consumer group: committed offsets per partition and one delivery loop per partition of every
 * topic a member subscribed to. A partition belongs to one member at a time; ownership moves
 * when members join or leave, after the record in flight is finished (as in a Kafka rebalance).
 */
class MemoryGroup {
  private readonly committed = new Map<string, number>();
  private readonly loops = new Map<string, PartitionLoop>();
  private members: MemoryMember[] = [];
  private closed = false;

  constructor(
    readonly name: string,
    private readonly broker: MemoryTopicBroker,
  ) {}

  join(member: MemoryMember): void {
    this.members.push(member);
    for (const topic of member.topics) {
      const partitions = this.broker.topic(topic);
      for (let p = 0; p < partitions.length; p++) {
        const id = `${topic}/${p}`;
        if (!this.loops.has(id)) {
          const loop = new PartitionLoop(topic, p, partitions[p] as PartitionLog);
          this.loops.set(id, loop);
          void this.run(loop);
        }
      }
    }
    this.wakeAll();
  }

  async leave(member: MemoryMember): Promise<void> {
    if (!this.members.includes(member)) return;
    this.members = this.members.filter((m) => m !== member);
    this.wakeAll();
    await member.stop();
  }

  async close(): Promise<void> {
    this.closed = true;
    const members = this.members;
    this.members = [];
    this.wakeAll();
    await Promise.all(members.map((m) => m.stop()));
  }

  wake(topic: string, partition: number): void {
    this.loops.get(`${topic}/${partition}`)?.wake();
  }

  /** Which member owns a partition: among the members subscribed to its topic, by index. */
  private owner(topic: string, partition: number): MemoryMember | undefined {
    const eligible = this.members.filter((m) => m.topics.includes(topic));
    return eligible[partition % Math.max(eligible.length, 1)];
  }

  private wakeAll(): void {
    for (const loop of this.loops.values()) loop.wake();
  }

  private async run(loop: PartitionLoop): Promise<void> {
    const id = `${loop.topic}/${loop.partition}`;
    while (!this.closed) {
      const committed = this.committed.get(id) ?? 0;
      // Records this group had not read yet were dropped by retention: like Kafka, carry on at
      // the oldest kept, and say so (they are lost to this group).
      const position = Math.max(committed, loop.log.base);
      if (committed < position) {
        if (this.committed.has(id)) this.broker.warnDropped(this.name, id, position - committed);
        this.committed.set(id, position);
      }
      const owner = this.owner(loop.topic, loop.partition);
      const stored = loop.log.at(position);
      if (!owner || !stored) {
        await loop.sleep();
        continue;
      }
      const record: BrokerRecord = {
        topic: loop.topic,
        partition: loop.partition,
        offset: String(stored.offset),
        key: stored.key,
        value: stored.value === null ? null : Buffer.from(stored.value),
      };
      const stillOwner = (): boolean => this.owner(loop.topic, loop.partition) === owner;
      if (await owner.deliver(record, stillOwner)) this.committed.set(id, position + 1);
    }
  }
}

/** One partition's delivery loop state: its log and a wake-up for new records or new owners. */
class PartitionLoop {
  private waker: (() => void) | undefined;

  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly log: PartitionLog,
  ) {}

  sleep(): Promise<void> {
    return new Promise((resolve) => (this.waker = resolve));
  }

  wake(): void {
    const waker = this.waker;
    this.waker = undefined;
    waker?.();
  }
}

/** One subscription: runs its handler with retries and drains on stop. */
class MemoryMember {
  private readonly stopping = new AbortController();
  private readonly inFlight = new Set<Promise<boolean>>();
  private stopped: Promise<void> | undefined;

  constructor(
    readonly topics: string[],
    private readonly handler: RecordHandler,
    private readonly options: z.infer<typeof MemoryTopicBrokerOptions>,
    private readonly logger: Logger,
  ) {}

  /**
   * Runs the handler until it resolves (true: commit the record). False when the member stops or
   * loses the partition first: the record stays uncommitted for whoever owns it next.
   */
  deliver(record: BrokerRecord, stillOwner: () => boolean): Promise<boolean> {
    const delivery = this.attempt(record, stillOwner);
    this.inFlight.add(delivery);
    void delivery.finally(() => this.inFlight.delete(delivery));
    return delivery;
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping.abort();
      await Promise.all([...this.inFlight]);
    })();
    return this.stopped;
  }

  private attempt(record: BrokerRecord, stillOwner: () => boolean): Promise<boolean> {
    return handleUntilDone(record, {
      handler: this.handler,
      stopping: this.stopping.signal,
      drainTimeoutMs: this.options.drainTimeoutMs,
      retry: this.options.handlerRetry,
      logger: this.logger,
      stillOwner,
    });
  }
}

/**
 * The partition Kafka's default partitioner (and kafkajs's `DefaultPartitioner`) picks for a key:
 * murmur2 of the key bytes, made positive, modulo the partition count.
 */
export function kafkaPartition(key: Buffer, partitions: number): number {
  return (murmur2(key) & 0x7fffffff) % partitions;
}

/** Kafka's murmur2 (org.apache.kafka.common.utils.Utils#murmur2), in 32-bit integer arithmetic. */
function murmur2(data: Buffer): number {
  const m = 0x5bd1e995;
  const length = data.length;
  let h = 0x9747b28c ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data.readInt32LE(i);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const rest = length & 3;
  if (rest === 3) h ^= (data[whole + 2] as number) << 16;
  if (rest >= 2) h ^= (data[whole + 1] as number) << 8;
  if (rest >= 1) {
    h ^= data[whole] as number;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}
