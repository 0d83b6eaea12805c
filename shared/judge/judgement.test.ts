import { describe, expect, it } from 'vitest';
import { emptyEvidence, Evidence, foldInterval } from './evidence.js';
import { describeEvidence, judge } from './judgement.js';

/** `n` identical 5-second intervals at 5% weight. */
function folded(n: number, canaryEvents: number, stableEvents: number, maxRatio = 1.2): Evidence {
  let e = emptyEvidence(maxRatio);
  for (let i = 0; i < n; i++) {
    e = foldInterval(e, { canaryRequests: 250, canaryEvents, stableRequests: 4750, stableEvents });
  }
  return e;
}

describe('judge', () => {
  it('starts with no evidence either way', () => {
    const verdict = judge(emptyEvidence(1.2), { alpha: 0.01, promoteAlpha: 0.05 });
    expect(verdict).toMatchObject({ logRegression: 0, rollbackProgress: 0, rollback: false });
    expect(verdict.promote).toBe(false);
  });

  it('rolls back once a ×5 canary has given enough evidence', () => {
    const verdict = judge(folded(3, 6, 24), { alpha: 0.01 });
    expect(verdict.rollback).toBe(true);
    expect(verdict.rollbackProgress).toBe(1);
  });

  it('does not roll back a canary that looks like stable, and can promote it', () => {
    const healthy = folded(200, 1, 24);
    expect(judge(healthy, { alpha: 0.01 }).rollback).toBe(false);
    expect(judge(healthy, { alpha: 0.01, promoteAlpha: 0.05 }).promote).toBe(true);
    expect(judge(healthy, { alpha: 0.01 }).promote).toBe(false);
  });

  it('keeps the split of each interval: the same counts mean more at a lower weight', () => {
    const at = (canaryRequests: number) =>
      foldInterval(emptyEvidence(1.2), {
        canaryRequests,
        canaryEvents: 5,
        stableRequests: 5000 - canaryRequests,
        stableEvents: 20,
      });
    expect(judge(at(50), { alpha: 0.01 }).logRegression).toBeGreaterThan(
      judge(at(500), { alpha: 0.01 }).logRegression,
    );
  });

  it('ignores intervals where one side served nothing, except in the totals', () => {
    const e = foldInterval(emptyEvidence(1.2), {
      canaryRequests: 0,
      canaryEvents: 0,
      stableRequests: 100,
      stableEvents: 3,
    });
    expect(e.regression.every((l) => l === 0)).toBe(true);
    expect(e).toMatchObject({ intervals: 1, stableEvents: 3, expectedCanaryEvents: 0 });
  });

  it('round-trips through JSON as its schema', () => {
    const e = folded(4, 3, 24);
    expect(Evidence.parse(JSON.parse(JSON.stringify(e)))).toEqual(e);
  });

  it('refuses a tolerance below 1', () => {
    expect(() => emptyEvidence(0.9)).toThrow(/maxRatio/);
  });
});

describe('describeEvidence', () => {
  it('says the counts and how far the evidence is towards a rollback', () => {
    const e = folded(1, 3, 24);
    expect(describeEvidence('errors', e, judge(e, { alpha: 0.01 }))).toMatch(
      /^errors 3 vs 1\.\d expected · evidence \d+% of rollback$/,
    );
  });
});
