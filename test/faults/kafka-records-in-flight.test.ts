/**
 * `recordsInFlight` on the Kafka broker, against the librdkafka mock: records of different keys
 * in one partition are handled at once while each key's stay in order, and the commit never
 * passes a record still being handled, so the next member reads it again.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KafkaTopicBroker } from '../../shared/adapters/kafka-topic-broker.js';
import type { BrokerRecord } from '../../shared/ports/topic-broker.js';
import { startKafkaBroker, type KafkaTestBroker } from '../support/kafka-broker.js';
import { testKafkaClient } from '../support/topic-brokers.js';
import { waitFor } from '../support/wait-for.js';

let kafka: KafkaTestBroker;
const clients: KafkaTopicBroker[] = [];

/** A client whose subscriptions handle up to 16 records at once. */
function pipelined(id: string): KafkaTopicBroker {
  const broker = testKafkaClient(kafka.bootstrap, id, { recordsInFlight: 16 });
  clients.push(broker);
  return broker;
}

beforeAll(async () => {
  kafka = await startKafkaBroker({ brokers: 1 });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await kafka?.stop();
});

const text = (r: BrokerRecord) => r.value?.toString('utf8') ?? '';

describe('Kafka broker with recordsInFlight', () => {
  it('handles other keys of the partition while one key’s record hangs, and keeps each key’s order', async () => {
    const topic = `in-flight-${randomUUID().slice(0, 8)}`;
    await kafka.createTopic(topic, 1, 1);
    const producer = testKafkaClient(kafka.bootstrap, 'producer-1');
    clients.push(producer as KafkaTopicBroker);
    await producer.produce(topic, 'slow', 'slow#1');
    await producer.produce(topic, 'slow', 'slow#2');
    for (let i = 1; i <= 3; i++)
      for (const key of ['a', 'b']) await producer.produce(topic, key, `${key}#${i}`);

    let release: () => void = () => {};
    const hanging = new Promise<void>((resolve) => (release = resolve));
    const started: string[] = [];
    const finished: string[] = [];
    const subscription = await pipelined('consumer-1').subscribe(
      { topics: [topic], group: `g-${randomUUID()}` },
      async (record) => {
        started.push(text(record));
        if (text(record) === 'slow#1') await hanging;
        finished.push(text(record));
      },
    );
    // Everything of a and b is handled while slow#1 hangs; slow#2 waits behind it.
    await waitFor(() => finished.length >= 6, { what: 'the records of a and b' });
    expect(started).not.toContain('slow#2');
    expect(finished.filter((v) => v.startsWith('a'))).toEqual(['a#1', 'a#2', 'a#3']);
    expect(finished.filter((v) => v.startsWith('b'))).toEqual(['b#1', 'b#2', 'b#3']);

    release();
    await waitFor(() => finished.includes('slow#2'), { what: 'slow#2' });
    expect(finished.filter((v) => v.startsWith('slow'))).toEqual(['slow#1', 'slow#2']);
    await subscription.stop();
  });

  it('does not commit past a record still being handled: the next member reads it again', async () => {
    const topic = `in-flight-commit-${randomUUID().slice(0, 8)}`;
    const group = `g-${randomUUID()}`;
    await kafka.createTopic(topic, 1, 1);
    const producer = testKafkaClient(kafka.bootstrap, 'producer-2');
    clients.push(producer as KafkaTopicBroker);
    await producer.produce(topic, 'a', 'a#1');
    await producer.produce(topic, 'stuck', 'stuck#1');
    await producer.produce(topic, 'b', 'b#1');

    const seen: string[] = [];
    const first = await pipelined('member-1').subscribe({ topics: [topic], group }, async (r) => {
      seen.push(text(r));
      if (text(r) === 'stuck#1') await new Promise<never>(() => {}); // never finishes
    });
    await waitFor(() => seen.includes('b#1'), { what: 'b#1 handled past the stuck record' });
    await first.stop(); // abandons stuck#1 after the drain timeout

    const again: string[] = [];
    const second = await pipelined('member-2').subscribe({ topics: [topic], group }, async (r) => {
      again.push(text(r));
    });
    await waitFor(() => again.includes('stuck#1'), { what: 'stuck#1 delivered again' });
    await second.stop();
    // a#1 was committed; stuck#1 and what came after it are read again.
    expect(again).not.toContain('a#1');
    expect(again).toEqual(['stuck#1', 'b#1']);
  });
});
