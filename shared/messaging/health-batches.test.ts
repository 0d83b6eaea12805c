import { describe, expect, it } from 'vitest';
import { aBatchedSample, anEvent } from '../../test/support/envelopes.js';
import { HealthSamplesWire, salvageSamples, splitSamples } from './health-batches.js';

describe('splitSamples', () => {
  const samples = (n: number) => Array.from({ length: n }, (_, i) => aBatchedSample(`r-${i}`));

  it('keeps one interval in one batch up to the count limit, in order', () => {
    const batches = splitSamples(samples(200));
    expect(batches).toHaveLength(1);
    expect(batches[0]!.map((s) => s.rolloutId)).toEqual(samples(200).map((s) => s.rolloutId));
  });

  it('splits above the count limit without losing or reordering a sample', () => {
    const batches = splitSamples(samples(450));
    expect(batches.map((b) => b.length)).toEqual([200, 200, 50]);
    expect(batches.flat()).toEqual(samples(450));
  });

  it('splits by size: no batch carries more than maxBytes of samples, unless one sample alone does', () => {
    const one = Buffer.byteLength(JSON.stringify(aBatchedSample('r-0'))) + 1;
    const batches = splitSamples(samples(10), { maxBytes: one * 3 });
    expect(batches.map((b) => b.length)).toEqual([3, 3, 3, 1]);
    const huge = { ...aBatchedSample('big'), padding: 'x'.repeat(one * 5) };
    expect(
      splitSamples([aBatchedSample('a'), huge, aBatchedSample('b')], { maxBytes: one * 3 }),
    ).toHaveLength(3);
  });

  it('makes no batch of nothing', () => {
    expect(splitSamples([])).toEqual([]);
  });
});

describe('salvageSamples', () => {
  const wire = (samples: unknown[]) =>
    HealthSamplesWire.parse({
      ...anEvent().onCluster('eu-west').healthSamples(['x']).build(),
      payload: { samples },
    });

  it('keeps the valid samples and says which others were refused and why', () => {
    const good = aBatchedSample('checkout-1');
    const { event, refused } = salvageSamples(
      wire([null, good, { ...aBatchedSample('checkout-2'), stageIndex: -1 }]),
    );
    expect(event?.payload.samples).toEqual([good]);
    expect(refused).toHaveLength(2);
    expect(refused[0]).toMatch(/^sample 0: /);
    expect(refused[1]).toMatch(/^sample 2 \(rollout checkout-2\): .*stageIndex/s);
  });

  it('gives no event when no sample is valid', () => {
    expect(salvageSamples(wire([{}])).event).toBeUndefined();
  });
});
