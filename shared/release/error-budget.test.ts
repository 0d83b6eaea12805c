import { describe, expect, it } from 'vitest';
import type { HealthSamplePayload } from '../contracts/events.js';
import {
  budgetSampleOf,
  budgetSpending,
  emptyErrorBudget,
  foldBudgetSample,
  type BudgetSample,
  type ErrorBudgetState,
} from './error-budget.js';

/** A window of `service` in `cluster`: `n`-th of 10 s windows, with canary and stable counts. */
function aWindow(
  service: string,
  n: number,
  canary: [requests: number, errors: number],
  stable: [requests: number, errors: number],
  cluster = 'eu-west',
): BudgetSample {
  return {
    service,
    cluster,
    fromMs: 1_000_000 + n * 10_000,
    toMs: 1_000_000 + (n + 1) * 10_000,
    canary: { requests: canary[0], errors: canary[1] },
    stable: { requests: stable[0], errors: stable[1] },
  };
}

function foldAll(state: ErrorBudgetState, samples: BudgetSample[]): ErrorBudgetState {
  return samples.reduce((s, sample) => foldBudgetSample(s, sample).state, state);
}

describe('release error budget', () => {
  it('spends canary errors beyond what the stable rate predicts for the same requests', () => {
    // Stable 1% (10 in 1000); canary 25 errors in 1000 requests: 15 extra.
    const state = foldAll(emptyErrorBudget(100), [aWindow('payments', 0, [1000, 25], [1000, 10])]);
    expect(budgetSpending(state)).toEqual({
      budget: 100,
      spent: 15,
      exhausted: false,
      members: [{ service: 'payments', excess: 15 }],
      unjudged: [],
    });
  });

  it('is exhausted by a small regression in three members that each stay under the budget alone', () => {
    // Each member: stable 1%, canary 1.5%, over 10 windows of 1000 requests in 2 clusters: 100
    // extra errors each, a 1.5× ratio a gate at 2× stable lets through.
    const member = (service: string) =>
      ['eu-west', 'us-east'].flatMap((cluster) =>
        Array.from({ length: 10 }, (_, n) => aWindow(service, n, [1000, 15], [4000, 40], cluster)),
      );
    const budget = 250;
    for (const service of ['payments', 'checkout', 'search']) {
      expect(budgetSpending(foldAll(emptyErrorBudget(budget), member(service))).exhausted).toBe(
        false,
      );
    }
    const all = budgetSpending(
      foldAll(emptyErrorBudget(budget), [
        ...member('payments'),
        ...member('checkout'),
        ...member('search'),
      ]),
    );
    expect(all.members.map((m) => [m.service, Math.round(m.excess)])).toEqual([
      ['payments', 100],
      ['checkout', 100],
      ['search', 100],
    ]);
    expect(all.spent).toBeCloseTo(300);
    expect(all.exhausted).toBe(true);
  });

  it('counts exactly the budget as exhausted', () => {
    const state = foldAll(emptyErrorBudget(15), [aWindow('payments', 0, [1000, 25], [1000, 10])]);
    expect(budgetSpending(state).exhausted).toBe(true);
  });

  it('counts a redelivered window once, and ignores a window overlapping a counted one', () => {
    const window = aWindow('payments', 0, [1000, 25], [1000, 10]);
    const once = foldBudgetSample(emptyErrorBudget(100), window).state;
    const again = foldBudgetSample(once, structuredClone(window));
    expect(again.state).toBe(once);
    expect(again.ignored).toMatch(
      /^payments in eu-west: the window \(1000000, 1010000\] was already counted/,
    );
    const overlapping = foldBudgetSample(once, { ...window, fromMs: 1_005_000, toMs: 1_015_000 });
    expect(overlapping.state).toBe(once);
    expect(overlapping.ignored).toContain('already counted');
    // The same window in another cluster, or of another member, is other traffic.
    expect(foldBudgetSample(once, { ...window, cluster: 'us-east' }).ignored).toBeUndefined();
    expect(foldBudgetSample(once, { ...window, service: 'search' }).ignored).toBeUndefined();
  });

  it('does not let a member doing better than its stable pay for one doing worse', () => {
    const state = foldAll(emptyErrorBudget(1000), [
      aWindow('payments', 0, [1000, 60], [1000, 10]), // 50 extra
      aWindow('search', 0, [1000, 0], [1000, 50]), // 50 fewer
    ]);
    expect(budgetSpending(state).spent).toBe(50);
  });

  it('lets noise cancel within a member: one window above, one below the prediction spend nothing', () => {
    const state = foldAll(emptyErrorBudget(1000), [
      aWindow('payments', 0, [1000, 14], [1000, 10]),
      aWindow('payments', 1, [1000, 6], [1000, 10]),
    ]);
    expect(budgetSpending(state).spent).toBe(0);
  });

  it('predicts a window without enough stable traffic (the last stage at 100%) from the pooled stable rate', () => {
    const state = foldAll(emptyErrorBudget(1000), [
      aWindow('payments', 0, [1000, 10], [1000, 10]), // stable 1%
      aWindow('payments', 1, [2000, 70], [0, 0]), // expected 20 from the pooled 1%: 50 extra
    ]);
    expect(budgetSpending(state).spent).toBeCloseTo(50);
    const alone = budgetSpending(
      foldAll(emptyErrorBudget(1000), [aWindow('payments', 1, [2000, 70], [0, 0])]),
    );
    expect(alone.spent).toBe(0);
    expect(alone.unjudged).toEqual([{ service: 'payments', requests: 2000 }]);
  });

  it.each([
    [
      'NaN canary errors',
      { canary: { requests: 10, errors: Number.NaN } },
      'canary.errors is NaN, not a whole number ≥ 0',
    ],
    ['negative stable requests', { stable: { requests: -5, errors: 0 } }, 'stable.requests is -5'],
    ['missing canary requests', { canary: { errors: 1 } }, 'canary.requests is missing'],
    ['fractional errors', { stable: { requests: 10, errors: 1.5 } }, 'stable.errors is 1.5'],
    [
      'more errors than requests',
      { canary: { requests: 3, errors: 4 } },
      'canary.errors (4) exceeds canary.requests (3)',
    ],
    ['a backwards window', { fromMs: 2_000_000, toMs: 1_000_000 }, 'is empty or runs backwards'],
  ])('ignores %s with the reason, leaving the budget as it was', (_what, change, reason) => {
    const before = foldBudgetSample(
      emptyErrorBudget(100),
      aWindow('payments', 0, [1000, 20], [1000, 10]),
    ).state;
    const bad = { ...aWindow('payments', 5, [1000, 20], [1000, 10]), ...change } as BudgetSample;
    const result = foldBudgetSample(before, bad);
    expect(result.state).toBe(before);
    expect(result.ignored).toContain(reason);
    expect(budgetSpending(result.state).spent).toBe(10);
  });

  it('ignores a sample of a service outside the release when the members are given', () => {
    const result = foldBudgetSample(
      emptyErrorBudget(100),
      aWindow('billing', 0, [10, 5], [10, 0]),
      ['payments', 'checkout'],
    );
    expect(result.ignored).toBe(
      'billing in eu-west: not a member of this release (payments, checkout)',
    );
  });

  it('keeps a long run of sequential windows as one merged window', () => {
    const state = foldAll(
      emptyErrorBudget(100),
      Array.from({ length: 50 }, (_, n) => aWindow('payments', n, [100, 1], [100, 1])),
    );
    expect(state.tallies.payments?.['eu-west']?.windows).toEqual([[1_000_000, 1_500_000]]);
  });
});

describe('budgetSampleOf', () => {
  const ok = (
    requests: number,
    errors: number,
    counts?: { fromMs: number; toMs: number; requests: number; errors: number },
  ) => ({
    status: 'ok' as const,
    requests,
    errors,
    latencyMs: { p50: 10, p95: 20, p99: 30 },
    ...(counts && { counts }),
  });

  it("reads the counted interval when the provider counts, else the measurement's window ending at the sample's time", () => {
    const counted: HealthSamplePayload = {
      stageIndex: 0,
      windowMs: 5000,
      canary: ok(999, 99, { fromMs: 100, toMs: 5100, requests: 50, errors: 2 }),
      stable: ok(999, 99, { fromMs: 100, toMs: 5100, requests: 950, errors: 9 }),
    };
    expect(budgetSampleOf('payments', 'eu-west', counted, 9_999)).toEqual({
      sample: {
        service: 'payments',
        cluster: 'eu-west',
        fromMs: 100,
        toMs: 5100,
        canary: { requests: 50, errors: 2 },
        stable: { requests: 950, errors: 9 },
      },
    });
    const measured: HealthSamplePayload = {
      stageIndex: 0,
      windowMs: 5000,
      canary: ok(40, 1),
      stable: ok(960, 5),
    };
    expect(budgetSampleOf('payments', 'eu-west', measured, 20_000)).toMatchObject({
      sample: { fromMs: 15_000, toMs: 20_000, canary: { requests: 40, errors: 1 } },
    });
  });

  it('gives no sample when a version was not measured, saying which and why', () => {
    const payload: HealthSamplePayload = {
      stageIndex: 0,
      windowMs: 5000,
      canary: ok(40, 1),
      stable: { status: 'unavailable', reason: 'prometheus timed out' },
    };
    expect(budgetSampleOf('payments', 'eu-west', payload, 20_000)).toEqual({
      ignored: 'payments in eu-west: stable not measured (prometheus timed out)',
    });
  });
});
