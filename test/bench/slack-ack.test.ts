import { expect, it } from 'vitest';
import { measureSlackAck } from '../../bench/slack-ack.js';

// Only that the bench runs and reports; its figures are for `npm run bench`, not for assertions.
it('measures the ack latency of /rollout start and a button click beside the floor', async () => {
  const result = await measureSlackAck({ iterations: 4, warmUp: 1 });
  expect(result.floor.samples).toBe(8); // one before each measured start and click
  for (const figures of [result.floor, result.start, result.button]) {
    expect(figures.samples).toBeGreaterThanOrEqual(4);
    expect(figures.p50Ms).toBeGreaterThan(0);
    expect(figures.p99Ms).toBeGreaterThanOrEqual(figures.p50Ms);
  }
  expect(Number.isFinite(result.ratios.start.p50)).toBe(true);
});
