import { Partitioners } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../test/support/wait-for.js';
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

describe('MemoryTopicBroker retention', () => {
  it('keeps the latest records of each partition only, and offsets keep counting', async () => {
    const broker = new MemoryTopicBroker({ partitions: 1, retainRecords: 10 });
    for (let i = 0; i < 25; i++) await broker.produce('t', 'k', `m${i}`);
    const seen: { offset: string; value: string }[] = [];
    const sub = await broker.subscribe({ topics: ['t'], group: 'late' }, async (r) => {
      seen.push({ offset: r.offset, value: r.value?.toString() ?? '' });
    });
    await waitFor(() => seen.at(-1)?.value === 'm24', { what: 'the newest record' });
    await sub.stop();
    await broker.close();
    // A tenth more than the excess goes at once: what is left is the newest, in order.
    expect(seen.length).toBeLessThanOrEqual(10);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.map((s) => Number(s.offset))).toEqual(
      Array.from({ length: seen.length }, (_, i) => 25 - seen.length + i),
    );
    expect(seen.map((s) => s.value)).toEqual(seen.map((s) => `m${s.offset}`));
    // What was produced counts what retention dropped too: the topic's end offsets.
    expect(broker.produced('t')).toBe(25);
    expect(broker.produced('never-used')).toBe(0);
  });

  it('moves a group that fell behind retention to the oldest kept record, losing nothing newer', async () => {
    const broker = new MemoryTopicBroker({ partitions: 1, retainRecords: 10 });
    const seen: string[] = [];
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const sub = await broker.subscribe({ topics: ['t'], group: 'slow' }, async (r) => {
      seen.push(r.value?.toString() ?? '');
      if (seen.length === 1) await held;
    });
    await broker.produce('t', 'k', 'm0');
    await waitFor(() => seen.length === 1, { what: 'the first record' });
    for (let i = 1; i < 40; i++) await broker.produce('t', 'k', `m${i}`);
    release();
    await waitFor(() => seen.at(-1) === 'm39', { what: 'the newest record' });
    await sub.stop();
    await broker.close();
    expect(seen[0]).toBe('m0');
    // Between m0 and the oldest kept record, retention dropped what the group had not read.
    const rest = seen.slice(1).map((v) => Number(v.slice(1)));
    expect(rest.length).toBeLessThanOrEqual(10);
    expect(rest).toEqual(Array.from({ length: rest.length }, (_, i) => 40 - rest.length + i));
  });

  it('refuses a retention below one record, naming the field', () => {
    expect(() => new MemoryTopicBroker({ retainRecords: 0 })).toThrow(/retainRecords/);
  });
});
