import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  budgetSpending,
  emptyErrorBudget,
  foldBudgetSample,
  type BudgetSample,
  type ErrorBudgetState,
} from './error-budget.js';

const SERVICES = ['payments', 'checkout', 'search'];
const CLUSTERS = ['eu-west', 'us-east'];

/** requests, then errors ≤ requests. */
const counts = fc
  .integer({ min: 0, max: 5000 })
  .chain((requests) =>
    fc.record({ requests: fc.constant(requests), errors: fc.integer({ min: 0, max: requests }) }),
  );

/** Samples with distinct windows per member and cluster (window n of that pair). */
const samplesArb = fc
  .array(
    fc.record({
      service: fc.constantFrom(...SERVICES),
      cluster: fc.constantFrom(...CLUSTERS),
      canary: counts,
      stable: counts,
    }),
    { maxLength: 40 },
  )
  .map((drawn) => {
    const next = new Map<string, number>();
    return drawn.map((d): BudgetSample => {
      const key = `${d.service}/${d.cluster}`;
      const n = next.get(key) ?? 0;
      next.set(key, n + 1);
      return { ...d, fromMs: n * 1000, toMs: (n + 1) * 1000 };
    });
  });

const fold = (samples: readonly BudgetSample[], budget = 100): ErrorBudgetState =>
  samples.reduce((s, sample) => foldBudgetSample(s, sample).state, emptyErrorBudget(budget));
const spent = (samples: readonly BudgetSample[]) => budgetSpending(fold(samples)).spent;

describe('release error budget (properties)', () => {
  it('does not depend on delivery order, and redelivered samples never count twice', () => {
    fc.assert(
      fc.property(
        samplesArb.chain((samples) =>
          fc.tuple(
            fc.constant(samples),
            fc.shuffledSubarray([...samples, ...samples], {
              minLength: samples.length * 2,
              maxLength: samples.length * 2,
            }),
          ),
        ),
        ([samples, redelivered]) => {
          expect(spent(redelivered)).toBeCloseTo(spent(samples), 6);
        },
      ),
    );
  });

  it('is the sum of what each member spends alone: no member offsets another', () => {
    fc.assert(
      fc.property(samplesArb, (samples) => {
        const alone = SERVICES.map((s) => spent(samples.filter((x) => x.service === s)));
        expect(spent(samples)).toBeCloseTo(
          alone.reduce((a, b) => a + b, 0),
          6,
        );
      }),
    );
  });

  it('is never negative, and never more than the canary errors counted', () => {
    fc.assert(
      fc.property(samplesArb, (samples) => {
        const total = spent(samples);
        expect(total).toBeGreaterThanOrEqual(0);
        expect(total).toBeLessThanOrEqual(
          samples.reduce((sum, s) => sum + s.canary.errors, 0) + 1e-9,
        );
      }),
    );
  });

  it('never spends less when a canary serves more errors', () => {
    fc.assert(
      fc.property(samplesArb, fc.nat(), fc.integer({ min: 1, max: 500 }), (samples, pick, more) => {
        fc.pre(samples.length > 0);
        const i = pick % samples.length;
        const worse = samples.map((s, j) =>
          j === i
            ? {
                ...s,
                canary: {
                  requests: s.canary.requests + more,
                  errors: s.canary.errors + more,
                },
              }
            : s,
        );
        expect(spent(worse)).toBeGreaterThanOrEqual(spent(samples) - 1e-9);
      }),
    );
  });

  it('spends nothing when every canary errs exactly at its stable rate, however many windows', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            stableRequests: fc.integer({ min: 100, max: 2000 }),
            rate: fc.integer({ min: 0, max: 20 }),
            scale: fc.integer({ min: 1, max: 5 }),
          }),
          { minLength: 1, maxLength: 60 },
        ),
        (windows) => {
          const samples = windows.map(({ stableRequests, rate, scale }, n): BudgetSample => {
            const stableErrors = Math.floor((stableRequests * rate) / 100);
            return {
              service: 'payments',
              cluster: 'eu-west',
              fromMs: n * 1000,
              toMs: (n + 1) * 1000,
              canary: { requests: stableRequests * scale, errors: stableErrors * scale },
              stable: { requests: stableRequests, errors: stableErrors },
            };
          });
          expect(spent(samples)).toBeCloseTo(0, 6);
        },
      ),
    );
  });
});
