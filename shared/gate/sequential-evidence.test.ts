import { describe, expect, it } from 'vitest';
import { aGate, aPlan, aVerdict } from '../../test/support/plan-builders.js';
import { requireSequentialEvidence } from './sequential-evidence.js';

describe('requireSequentialEvidence', () => {
  const sequential = aPlan()
    .withGate(aGate().withSequential({ metric: 'error_rate' }))
    .build().stages[0]!;
  const thresholdOnly = aPlan().build().stages[0]!;

  it('turns a pass into inconclusive for clusters the judge has not heard from since the bake began', () => {
    const verdict = requireSequentialEvidence(
      aVerdict('pass'),
      sequential,
      ['eu', 'us'],
      { eu: 2_000, us: 500 },
      1_000,
    );
    expect(verdict.outcome).toBe('inconclusive');
    expect(verdict.inconclusive).toEqual([
      { cluster: 'us', reason: expect.stringContaining('no interval counts since the bake began') },
    ]);
    expect(verdict.summary).toContain('us');
  });

  it('lets a pass stand once every cluster sent counts, and leaves other outcomes and threshold-only stages alone', () => {
    expect(
      requireSequentialEvidence(
        aVerdict('pass'),
        sequential,
        ['eu', 'us'],
        { eu: 2_000, us: 1_500 },
        1_000,
      ).outcome,
    ).toBe('pass');
    expect(
      requireSequentialEvidence(aVerdict('failing'), sequential, ['eu'], {}, 1_000).outcome,
    ).toBe('failing');
    expect(
      requireSequentialEvidence(aVerdict('pass'), thresholdOnly, ['eu'], {}, 1_000).outcome,
    ).toBe('pass');
  });
});
