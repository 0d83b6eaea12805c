import { describe, expect, it } from 'vitest';
import { KafkaTopicBroker } from './kafka-topic-broker.js';

describe('KafkaTopicBroker options', () => {
  it('rejects a broker address that is not host:port', () => {
    expect(() => new KafkaTopicBroker({ clientId: 'bot', brokers: ['kafka'] })).toThrow(
      /host:port.*brokers\[0\]/s,
    );
  });

  it('rejects a heartbeat interval not shorter than the session timeout', () => {
    expect(
      () =>
        new KafkaTopicBroker({
          clientId: 'bot',
          brokers: ['localhost:9092'],
          consumer: { sessionTimeoutMs: 3_000, heartbeatIntervalMs: 3_000 },
        }),
    ).toThrow(/heartbeatIntervalMs must be shorter than sessionTimeoutMs/);
  });

  it('rejects unknown options instead of ignoring them', () => {
    const options = { clientId: 'bot', brokers: ['localhost:9092'], idempotent: true };
    expect(() => new KafkaTopicBroker(options as never)).toThrow(/idempotent/);
  });
});
