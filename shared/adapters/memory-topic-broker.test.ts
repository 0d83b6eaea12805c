import { Partitioners } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { kafkaPartition, MemoryTopicBroker } from './memory-topic-broker.js';

describe('kafkaPartition', () => {
  it('picks the partition kafkajs DefaultPartitioner picks, so both brokers place keys alike', () => {
    const kafkajs = Partitioners.DefaultPartitioner();
    const keys = [
      '',
      'a',
      'ab',
      'abc',
      'abcd',
      'rollout-1',
      'eu-west-1',
      'ünïcødé-🚀',
      'x'.repeat(97),
    ];
    for (let i = 0; i < 200; i++) keys.push(`r-${i.toString(36)}-${(i * 7919).toString(16)}`);
    for (const partitions of [1, 3, 4, 12]) {
      const partitionMetadata = Array.from({ length: partitions }, (_, id) => ({
        partitionId: id,
        leader: 1,
        partitionErrorCode: 0,
        replicas: [1],
        isr: [1],
      }));
      for (const key of keys) {
        const expected = kafkajs({ topic: 't', partitionMetadata, message: { key, value: null } });
        expect(kafkaPartition(Buffer.from(key), partitions), `key ${key}`).toBe(expected);
      }
    }
  });
});

describe('MemoryTopicBroker options', () => {
  it('rejects invalid options with a message naming the field', () => {
    expect(() => new MemoryTopicBroker({ partitions: 0 })).toThrow(/partitions/);
  });
});
