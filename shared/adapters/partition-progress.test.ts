import { describe, expect, it } from 'vitest';
import { PartitionProgress } from './partition-progress.js';

describe('PartitionProgress', () => {
  it('commits only the run of handled records from the start of a partition', () => {
    const progress = new PartitionProgress(10);
    for (const offset of [5n, 6n, 7n]) progress.begin('events/0', offset);
    // 6 and 7 finish first: 5 is still running, so nothing may be committed yet.
    expect(progress.finish('events/0', 7n, true)).toBeUndefined();
    expect(progress.finish('events/0', 6n, true)).toBeUndefined();
    // 5 finishes: 5, 6 and 7 are handled, the next to read is 8.
    expect(progress.finish('events/0', 5n, true)).toBe(8n);
    expect(progress.running).toBe(0);
  });

  it('never commits past a record that was let go, nor mixes partitions', () => {
    const progress = new PartitionProgress(10);
    progress.begin('events/0', 1n);
    progress.begin('events/1', 1n);
    progress.begin('events/0', 2n);
    expect(progress.finish('events/1', 1n, true)).toBe(2n);
    expect(progress.finish('events/0', 1n, false)).toBeUndefined();
    expect(progress.finish('events/0', 2n, true)).toBeUndefined();
  });

  it('makes a caller wait for room once `limit` records are running', async () => {
    const progress = new PartitionProgress(2);
    progress.begin('t/0', 0n);
    progress.begin('t/0', 1n);
    let roomy = false;
    const waiting = progress.room().then(() => (roomy = true));
    await Promise.resolve();
    expect(roomy).toBe(false);
    progress.finish('t/0', 0n, true);
    await waiting;
    expect(roomy).toBe(true);
  });
});
