import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { emptyEvidence, foldInterval, type Evidence, type IntervalCounts } from './evidence.js';
import { judge } from './judgement.js';
import { poissonCount, seededUniform, type Uniform } from './seeded-counts.js';

/**
 * The guarantee, by seeded simulation: under the null, the probability that the evidence EVER
 * reaches 1/α (at any of the looks, one per interval) stays ≤ α. Beside it, a naive one-sided
 * z-test at level α repeated on the cumulative counts at every look, which is what a threshold
 * looked at again and again amounts to: it exceeds α.
 */

const LOOKS_PER_STAGE = 20;
const STAGE_WEIGHTS = [0.05, 0.25, 0.5]; // the split changes between stages
const REQUESTS_PER_INTERVAL = 5_000; // 1,000 req/s sampled every 5 s
const STABLE_RATE = 0.005;
const RUNS = 2_000;

function interval(u: Uniform, weight: number, ratio: number): IntervalCounts {
  const canaryRequests = poissonCount(u, REQUESTS_PER_INTERVAL * weight);
  const stableRequests = poissonCount(u, REQUESTS_PER_INTERVAL * (1 - weight));
  return {
    canaryRequests,
    stableRequests,
    canaryEvents: poissonCount(u, canaryRequests * STABLE_RATE * ratio),
    stableEvents: poissonCount(u, stableRequests * STABLE_RATE),
  };
}

/** z_{1-α} for the α used below. */
const Z: Record<number, number> = { 0.01: 2.3263, 0.05: 1.6449 };

interface Rates {
  /** Per look t: fraction of runs whose sequential evidence reached 1/α at some look ≤ t. */
  sequential: number[];
  /** Per look t: the same for the naive repeated z-test. */
  naive: number[];
  promoted: number;
}

function simulate(opts: {
  seed: number;
  ratio: number;
  maxRatio: number;
  alpha: number;
  promoteAlpha?: number;
}): Rates {
  const u = seededUniform(opts.seed);
  const looks = STAGE_WEIGHTS.length * LOOKS_PER_STAGE;
  const sequential = new Array<number>(looks).fill(0);
  const naive = new Array<number>(looks).fill(0);
  let promoted = 0;
  const levels = { alpha: opts.alpha, promoteAlpha: opts.promoteAlpha ?? opts.alpha };
  for (let run = 0; run < RUNS; run++) {
    let evidence: Evidence = emptyEvidence(opts.maxRatio);
    let seqAt = Infinity;
    let naiveAt = Infinity;
    let promotedRun = false;
    // The naive test: cumulative canary events against their null mean Σ T_i p0_i.
    let excess = 0;
    let variance = 0;
    for (let t = 0; t < looks; t++) {
      const weight = STAGE_WEIGHTS[Math.floor(t / LOOKS_PER_STAGE)]!;
      const counts = interval(u, weight, opts.ratio);
      evidence = foldInterval(evidence, counts);
      const verdict = judge(evidence, levels);
      if (verdict.rollback) seqAt = Math.min(seqAt, t);
      if (verdict.promote) promotedRun = true;
      const total = counts.canaryEvents + counts.stableEvents;
      const w = counts.canaryRequests / (counts.canaryRequests + counts.stableRequests || 1);
      const p0 = (opts.maxRatio * w) / (opts.maxRatio * w + 1 - w);
      excess += counts.canaryEvents - total * p0;
      variance += total * p0 * (1 - p0);
      if (variance > 0 && excess / Math.sqrt(variance) > Z[opts.alpha]!)
        naiveAt = Math.min(naiveAt, t);
    }
    for (let t = 0; t < looks; t++) {
      if (seqAt <= t) sequential[t]!++;
      if (naiveAt <= t) naive[t]!++;
    }
    if (promotedRun) promoted++;
  }
  return {
    sequential: sequential.map((n) => n / RUNS),
    naive: naive.map((n) => n / RUNS),
    promoted: promoted / RUNS,
  };
}

describe('the sequential judge keeps its false-alarm rate at every look', () => {
  const cases = [
    { name: 'canary rate = tolerance × stable (the null boundary)', ratio: 1.2, maxRatio: 1.2 },
    { name: 'canary rate = stable rate, tolerance 1.2', ratio: 1, maxRatio: 1.2 },
    { name: 'canary rate = stable rate, tolerance 1 (the boundary)', ratio: 1, maxRatio: 1 },
  ];
  for (const alpha of [0.01, 0.05]) {
    for (const c of cases) {
      it(`α=${alpha}, ${c.name}: P(evidence ever ≥ 1/α) ≤ α over ${RUNS} runs of 60 looks`, () => {
        const rates = simulate({ seed: 13 + alpha * 1000, ...c, alpha });
        for (const [t, rate] of rates.sequential.entries()) {
          expect(rate, `rejection rate by look ${t + 1}`).toBeLessThanOrEqual(alpha);
        }
        if (c.ratio === c.maxRatio) {
          // The naive repeated fixed-n test, on the same data, exceeds α: peeking inflates it.
          expect(rates.naive.at(-1)!).toBeGreaterThan(alpha);
          expect(rates.naive.at(-1)!).toBeGreaterThan(2 * rates.sequential.at(-1)!);
        }
      });
    }
  }

  it('detects a ×5 canary at 5% weight, mostly within the first stage', () => {
    const rates = simulate({ seed: 5, ratio: 5, maxRatio: 1.2, alpha: 0.01 });
    expect(rates.sequential[LOOKS_PER_STAGE - 1]!).toBeGreaterThan(0.95);
  });
});

describe('the early-promotion test keeps its own α', () => {
  it('never promotes a canary at or beyond the tolerance more often than α', () => {
    for (const ratio of [1.2, 1.5]) {
      const rates = simulate({ seed: 99, ratio, maxRatio: 1.2, alpha: 0.01, promoteAlpha: 0.05 });
      expect(rates.promoted, `canary at ${ratio}× stable`).toBeLessThanOrEqual(0.05);
    }
  });

  it('promotes a clearly better canary', () => {
    const rates = simulate({ seed: 7, ratio: 0.3, maxRatio: 1.2, alpha: 0.01, promoteAlpha: 0.05 });
    expect(rates.promoted).toBeGreaterThan(0.9);
  });
});

describe('folding', () => {
  const counts = fc.record({
    canaryRequests: fc.nat(10_000),
    canaryEvents: fc.nat(200),
    stableRequests: fc.nat(100_000),
    stableEvents: fc.nat(2_000),
  });

  it('does not depend on the order of the intervals', () => {
    fc.assert(
      fc.property(fc.array(counts, { maxLength: 12 }), (intervals) => {
        const forward = intervals.reduce(foldInterval, emptyEvidence(1.2));
        const backward = [...intervals].reverse().reduce(foldInterval, emptyEvidence(1.2));
        forward.regression.forEach((l, k) => expect(l).toBeCloseTo(backward.regression[k]!, 6));
        expect(forward.canaryEvents).toBe(backward.canaryEvents);
      }),
    );
  });

  it('a canary with no events never gathers evidence of a regression', () => {
    fc.assert(
      fc.property(fc.array(counts, { maxLength: 12 }), (intervals) => {
        const quiet = intervals.map((i) => ({ ...i, canaryEvents: 0 }));
        const evidence = quiet.reduce(foldInterval, emptyEvidence(1.2));
        expect(judge(evidence, { alpha: 0.01 }).logRegression).toBeLessThanOrEqual(1e-9);
      }),
    );
  });
});
