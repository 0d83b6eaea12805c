/**
 * The TopicBroker contract, run against every adapter: the in-memory broker and the Kafka
 * broker over a fresh librdkafka mock cluster. Tests wait for arrival, never for time.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { kafkaPartition } from '../../shared/adapters/memory-topic-broker.js';
import type { BrokerRecord, TopicBroker } from '../../shared/ports/topic-broker.js';
import { brokerKinds, type BrokerFixture } from '../support/topic-brokers.js';
import { uniqueName, waitFor } from '../support/wait-for.js';

const text = (r: BrokerRecord): string => r.value?.toString('utf8') ?? '<null>';

/** Subscribes with a handler that only records what it saw. */
async function collect(broker: TopicBroker, topic: string, group: string) {
  const seen: BrokerRecord[] = [];
  const subscription = await broker.subscribe({ topics: [topic], group }, async (record) => {
    seen.push(record);
  });
  return { seen, subscription };
}

describe.each(brokerKinds)('TopicBroker contract: $name', (kind) => {
  let fixture: BrokerFixture;
  beforeAll(async () => {
    fixture = await kind.start();
  });
  afterAll(async () => {
    await fixture?.close();
  });

  it.concurrent(
    'delivers records of one key in the order they were produced, from the earliest offset for a new group',
    async ({ expect }) => {
      const broker = fixture.client();
      const topic = uniqueName('ordered');
      const keys = ['rollout-a', 'rollout-b', 'rollout-c'];
      for (let i = 0; i < 10; i++) {
        for (const key of keys) await broker.produce(topic, key, `${key}#${i}`);
      }

      const { seen, subscription } = await collect(broker, topic, uniqueName('group'));
      await waitFor(() => seen.length >= 30, { what: '30 records' });
      await subscription.stop();

      for (const key of keys) {
        const ofKey = seen.filter((r) => r.key === key);
        expect(ofKey.map(text)).toEqual(Array.from({ length: 10 }, (_, i) => `${key}#${i}`));
        expect(new Set(ofKey.map((r) => r.partition)).size).toBe(1);
        expect(ofKey.map((r) => BigInt(r.offset))).toEqual(
          ofKey.map((r) => BigInt(r.offset)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
        );
      }
    },
  );

  it.concurrent(
    'a subscription to a topic that does not exist yet receives what is produced later',
    async ({ expect }) => {
      const broker = fixture.client();
      const topic = uniqueName('not-yet');
      const { seen, subscription } = await collect(broker, topic, uniqueName('group'));

      await broker.produce(topic, 'rollout-1', 'hello');
      await waitFor(() => seen.length >= 1, { what: 'the record' });
      await subscription.stop();

      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatchObject({ topic, key: 'rollout-1', offset: '0' });
      expect(text(seen[0]!)).toBe('hello');
    },
  );

  it.concurrent(
    'commits only after the handler resolved: a record whose handler never finished is delivered again to the next member',
    async ({ expect }) => {
      const topic = uniqueName('commit');
      const group = uniqueName('group');
      const producer = fixture.client();
      for (const value of ['one', 'two', 'three'])
        await producer.produce(topic, 'rollout-1', value);

      const first = fixture.client();
      const firstSeen: BrokerRecord[] = [];
      const crashed = await first.subscribe({ topics: [topic], group }, async (record) => {
        firstSeen.push(record);
        // The process "dies" while handling 'two': its handler never resolves.
        if (text(record) === 'two') await new Promise<never>(() => {});
      });
      await waitFor(() => firstSeen.length >= 2, { what: "'two' to reach the first member" });
      await crashed.stop();

      const { seen, subscription } = await collect(fixture.client(), topic, group);
      await waitFor(() => seen.length >= 2, { what: 'the redelivery' });
      await subscription.stop();

      expect(firstSeen.map(text)).toEqual(['one', 'two']);
      expect(seen.map(text)).toEqual(['two', 'three']);
      expect(seen[0]!.offset).toBe(firstSeen[1]!.offset);
    },
  );

  it.concurrent(
    'retries a rejecting handler on the same record, with backoff, and never skips it',
    async ({ expect }) => {
      const broker = fixture.client();
      const topic = uniqueName('retry');
      await broker.produce(topic, 'rollout-1', 'a');
      await broker.produce(topic, 'rollout-1', 'b');

      const calls: string[] = [];
      let failuresLeft = 2;
      const subscription = await broker.subscribe(
        { topics: [topic], group: uniqueName('group') },
        async (record) => {
          calls.push(text(record));
          if (text(record) === 'a' && failuresLeft-- > 0) throw new Error('agent not ready');
        },
      );
      await waitFor(() => calls.includes('b'), { what: "'b'" });
      await subscription.stop();

      expect(calls).toEqual(['a', 'a', 'a', 'b']);
    },
  );

  it.concurrent(
    'members of one group share the partitions; every group gets every record',
    async ({ expect }) => {
      const broker = fixture.client();
      const topic = uniqueName('shared');
      const group = uniqueName('agents');
      const keys = Array.from({ length: 12 }, (_, i) => `rollout-${i}`);
      // The keys cover every partition of an auto-created (4-partition) topic.
      expect(new Set(keys.map((k) => kafkaPartition(Buffer.from(k), 4))).size).toBe(4);

      const [a, b, other] = await Promise.all([
        collect(broker, topic, group),
        collect(broker, topic, group),
        collect(broker, topic, uniqueName('audit')),
      ]);
      for (const key of keys) {
        await broker.produce(topic, key, `${key}#0`);
        await broker.produce(topic, key, `${key}#1`);
      }
      await waitFor(() => a.seen.length + b.seen.length >= 24 && other.seen.length >= 24, {
        what: 'every record in both groups',
      });
      await Promise.all([a.subscription.stop(), b.subscription.stop(), other.subscription.stop()]);

      const all = keys.flatMap((k) => [`${k}#0`, `${k}#1`]).sort();
      expect(a.seen.length).toBeGreaterThan(0);
      expect(b.seen.length).toBeGreaterThan(0);
      expect([...a.seen, ...b.seen].map(text).sort()).toEqual(all);
      const partitionsOf = (seen: BrokerRecord[]) => new Set(seen.map((r) => r.partition));
      expect([...partitionsOf(a.seen)].filter((p) => partitionsOf(b.seen).has(p))).toEqual([]);
      expect(other.seen.map(text).sort()).toEqual(all);
    },
  );

  it.concurrent(
    'a stopped subscription receives nothing more; the group continues from its commit',
    async ({ expect }) => {
      const broker = fixture.client();
      const topic = uniqueName('stop');
      const group = uniqueName('group');
      const first = await collect(broker, topic, group);
      await broker.produce(topic, 'rollout-1', 'before');
      await waitFor(() => first.seen.length >= 1, { what: "'before'" });
      await first.subscription.stop();
      await first.subscription.stop(); // idempotent

      await broker.produce(topic, 'rollout-1', 'after');
      const second = await collect(broker, topic, group);
      await waitFor(() => second.seen.length >= 1, { what: "'after'" });
      await second.subscription.stop();

      expect(first.seen.map(text)).toEqual(['before']);
      expect(second.seen.map(text)).toEqual(['after']);
    },
  );

  it.concurrent(
    'close() stops everything, is idempotent, and refuses further use',
    async ({ expect }) => {
      const broker = fixture.isolated();
      const topic = uniqueName('close');
      const { seen } = await collect(broker, topic, uniqueName('group'));
      await broker.produce(topic, null, 'x');
      await waitFor(() => seen.length >= 1, { what: 'the record' });

      await broker.close();
      await broker.close();

      await expect(broker.produce(topic, null, 'y')).rejects.toMatchObject({
        code: 'broker_closed',
      });
      await expect(
        broker.subscribe({ topics: [topic], group: uniqueName('group') }, async () => {}),
      ).rejects.toMatchObject({ code: 'broker_closed' });
    },
  );
});
