import { describe, expect, it } from 'vitest';
import type { TopicMessages } from 'kafkajs';
import { ProduceBatcher } from './produce-batcher.js';

/** A send that waits until the test lets it finish, recording every batch it was given. */
function gatedSend() {
  const batches: TopicMessages[][] = [];
  const gates: { open: () => void; fail: (err: Error) => void }[] = [];
  const send = (batch: TopicMessages[]) =>
    new Promise<void>((resolve, reject) => {
      batches.push(batch);
      gates.push({ open: resolve, fail: reject });
    });
  return { batches, gates, send };
}

const values = (batch: TopicMessages[]) =>
  batch.flatMap((t) => t.messages.map((m) => `${t.topic}:${m.key}:${String(m.value)}`));
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('ProduceBatcher', () => {
  it('sends the records added in one turn together, grouped by topic in the order they were added', async () => {
    const { batches, gates, send } = gatedSend();
    const batcher = new ProduceBatcher(send);
    const done = [
      batcher.add({ topic: 'rollout.commands.c1', key: 'r1', value: 'a' }),
      batcher.add({ topic: 'rollout.commands.c2', key: 'r1', value: 'b' }),
      batcher.add({ topic: 'rollout.commands.c1', key: 'r1', value: 'c' }),
    ];
    await tick();
    expect(batches).toHaveLength(1);
    expect(values(batches[0]!)).toEqual([
      'rollout.commands.c1:r1:a',
      'rollout.commands.c1:r1:c',
      'rollout.commands.c2:r1:b',
    ]);
    gates[0]!.open();
    await Promise.all(done);
    expect(batcher.sends).toBe(1);
  });

  it('gathers what is added while a send is on its way into the next send, after it', async () => {
    const { batches, gates, send } = gatedSend();
    const batcher = new ProduceBatcher(send);
    const first = batcher.add({ topic: 't', key: 'k', value: '1' });
    await tick();
    const later = [2, 3, 4].map((i) => batcher.add({ topic: 't', key: 'k', value: `${i}` }));
    await tick();
    expect(batches).toHaveLength(1); // one send in flight at a time
    gates[0]!.open();
    await first;
    await tick();
    expect(batches).toHaveLength(2);
    expect(values(batches[1]!)).toEqual(['t:k:2', 't:k:3', 't:k:4']);
    gates[1]!.open();
    await Promise.all(later);
    await batcher.idle();
  });

  it('rejects every record of a failed send with its error, and sends the next ones anyway', async () => {
    const { gates, send } = gatedSend();
    const batcher = new ProduceBatcher(send);
    const failed = [1, 2].map((i) => batcher.add({ topic: 't', key: 'k', value: `${i}` }));
    await tick();
    const next = batcher.add({ topic: 't', key: 'k', value: '3' });
    gates[0]!.fail(new Error('broker down'));
    for (const record of failed) await expect(record).rejects.toThrow('broker down');
    await tick();
    gates[1]!.open();
    await expect(next).resolves.toBeUndefined();
  });

  it('splits a send that would carry more than 512 KB of values, keeping their order', async () => {
    const batches: TopicMessages[][] = [];
    const batcher = new ProduceBatcher(async (batch) => {
      batches.push(batch);
    });
    const big = (i: number) => `${i}`.padEnd(300 * 1024, 'x');
    await Promise.all([1, 2, 3].map((i) => batcher.add({ topic: 't', key: null, value: big(i) })));
    expect(batches.map((b) => b.flatMap((t) => t.messages.map((m) => String(m.value)[0])))).toEqual(
      [['1'], ['2'], ['3']],
    );
    expect(batcher.sends).toBe(3);
  });
});
