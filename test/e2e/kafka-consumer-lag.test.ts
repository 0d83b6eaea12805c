import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OperatorMetrics } from '../../bot/operator-metrics.js';
import type { KafkaTopicBroker } from '../../shared/adapters/kafka-topic-broker.js';
import { startKafkaBroker, type KafkaTestBroker } from '../support/kafka-broker.js';
import { testKafkaClient } from '../support/topic-brokers.js';
import { uniqueName, waitFor } from '../support/wait-for.js';

describe('KafkaTopicBroker.consumerLag (against the mock Kafka cluster)', () => {
  let kafka: KafkaTestBroker;
  let broker: KafkaTopicBroker;

  beforeAll(async () => {
    kafka = await startKafkaBroker({ brokers: 1 });
    broker = testKafkaClient(kafka.bootstrap, 'lag-test');
  });
  afterAll(async () => {
    await broker?.close();
    await kafka?.stop();
  });

  it('counts what a group has not committed, and nothing once it has consumed it all', async () => {
    const topic = uniqueName('lag');
    const group = uniqueName('group');
    for (let i = 0; i < 6; i++) await broker.produce(topic, `k${i}`, `v${i}`);
    const before = await broker.consumerLag(group, topic);
    expect(before.reduce((sum, p) => sum + p.lag, 0)).toBe(6);

    let seen = 0;
    const sub = await broker.subscribe({ topics: [topic], group }, async () => {
      seen++;
    });
    await waitFor(() => seen === 6, { what: 'all six records consumed' });
    const after = await waitFor(
      async () => {
        const lag = await broker.consumerLag(group, topic);
        return lag.every((p) => p.lag === 0) && lag;
      },
      { what: 'the lag to reach 0 once committed' },
    );
    expect(after.length).toBeGreaterThan(0);
    await sub.stop();
  });

  it('shows on /metrics as rollout_kafka_consumer_lag, and drops the series when Kafka does not answer', async () => {
    const topic = uniqueName('lag');
    for (let i = 0; i < 3; i++) await broker.produce(topic, `k${i}`, `v${i}`);
    const metrics = new OperatorMetrics();
    metrics.watchConsumerLag(async () =>
      (await broker.consumerLag('nobody-consumes', topic)).map((p) => ({ topic, ...p })),
    );
    const series = (await metrics.registry.metrics())
      .split('\n')
      .filter((l) => l.startsWith(`rollout_kafka_consumer_lag{topic="${topic}",partition="`));
    expect(series.map((l) => Number(l.split(' ')[1])).reduce((a, b) => a + b, 0)).toBe(3);

    const down = new OperatorMetrics();
    down.watchConsumerLag(() => Promise.reject(new Error('broker down')));
    expect(await down.registry.metrics()).not.toMatch(/^rollout_kafka_consumer_lag\{/m);
  });
});
