import { performance } from 'node:perf_hooks';
import { Kafka, logLevel, Partitioners } from 'kafkajs';

export interface FloorOptions {
  brokers: string[];
  /** The consumer's fetch max wait: the same as the product's in this run, so the floor is fair. */
  maxWaitTimeMs: number;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  roundTrips: number;
  warmUp: number;
}

/**
 * The floor: plain kafkajs on the same broker, one record at a time, from `send` (acks from all
 * in-sync replicas, as the product produces) to `eachMessage` in a consumer group. No envelope,
 * validation, dead-lettering or offset commits: what any Kafka client pays for one hop.
 *
 * Each round trip starts after a random pause of up to two fetch max waits. A record sent right
 * after the previous one arrived meets the consumer's next fetch on its way out and comes back at
 * once; commands arrive at any moment, and the mock broker answers an empty fetch only when its
 * max wait is over (it does not cut the wait short when a record arrives), so a fair floor meets
 * the consumer at a random point of its fetch cycle too.
 */
export async function measureKafkaFloor(options: FloorOptions): Promise<number[]> {
  const kafka = new Kafka({
    clientId: 'bench-floor',
    brokers: options.brokers,
    logLevel: logLevel.NOTHING,
  });
  const topic = `bench.floor.${Date.now().toString(36)}`;
  const producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    maxInFlightRequests: 1,
  });
  const consumer = kafka.consumer({
    groupId: `${topic}.group`,
    maxWaitTimeInMs: options.maxWaitTimeMs,
    sessionTimeout: options.sessionTimeoutMs,
    heartbeatInterval: options.heartbeatIntervalMs,
    rebalanceTimeout: options.sessionTimeoutMs,
  });
  const waiting = new Map<string, () => void>();
  try {
    await producer.connect();
    // The topic exists before the consumer subscribes, so it starts at offset 0 of a known topic.
    await producer.send({ topic, acks: -1, messages: [{ key: 'warm', value: 'create' }] });
    await consumer.connect();
    const joined = new Promise<void>((resolve) =>
      consumer.on(consumer.events.GROUP_JOIN, () => resolve()),
    );
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const id = message.value?.toString() ?? '';
        waiting.get(id)?.();
        waiting.delete(id);
      },
    });
    await joined;
    const once = async (id: string): Promise<number> => {
      await sleep(Math.random() * 2 * options.maxWaitTimeMs);
      const seen = new Promise<void>((resolve) => waiting.set(id, resolve));
      const started = performance.now();
      await producer.send({ topic, acks: -1, messages: [{ key: id, value: id }] });
      await seen;
      return performance.now() - started;
    };
    for (let i = 0; i < options.warmUp; i++) await once(`warm-${i}`);
    const latencies: number[] = [];
    for (let i = 0; i < options.roundTrips; i++) latencies.push(await once(`trip-${i}`));
    return latencies;
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
