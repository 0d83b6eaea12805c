import { z } from 'zod';

/**
 * Anytime-valid evidence that a canary is worse than its stable version (or that it is not), from
 * event counts of non-overlapping intervals: errors of requests, or slow requests.
 *
 * Derivation (after Lindon, Sanden, Shirikian, "Rapid Regression Detection in Software
 * Deployments through Sequential Testing", KDD 2022, and "Anytime Valid Inference for Multinomial
 * Count Data", NeurIPS 2022). In interval i the canary serves `c_i` requests and the stable version
 * `s_i`; events arrive as Poisson processes per request with rates λ_c and λ_s (rare events: an
 * error or a slow request is one Bernoulli trial of small probability per request). Given the
 * interval's total `T_i = x_i + y_i` of canary and stable events, the canary's share is binomial:
 *
 *   x_i | T_i ~ Bin(T_i, p_i(ρ)),   p_i(ρ) = ρ w_i / (ρ w_i + 1 − w_i),   w_i = c_i / (c_i + s_i),
 *
 * with ρ = λ_c / λ_s the one unknown, shared by every interval however the split w_i changes
 * between stages. The null "no worse than the tolerance" is ρ ≤ ρ0 (`maxRatio`). For a fixed
 * ρ1 > ρ0 the likelihood ratio of interval i against the boundary is
 *
 *   L_i(ρ1) = (ρ1/ρ0)^{x_i} · ((ρ0 w_i + 1 − w_i) / (ρ1 w_i + 1 − w_i))^{T_i}.
 *
 * Its conditional expectation under any p ≤ p_i(ρ0) is (p·a + (1−p)·b)^{T_i} with a > 1 > b and
 * p_i(ρ0)·a + (1−p_i(ρ0))·b = 1, so it is ≤ 1: the running product is a non-negative
 * supermartingale for the whole composite null, and so is any mixture Σ π_k Π_i L_i(ρ_k) with
 * weights π_k summing to 1 (here a log-spaced grid of ρ_k/ρ0 from 1.1 to 50, equal weights: a
 * discrete stand-in for the paper's conjugate mixture, needed because p_i moves with w_i). Ville's
 * inequality bounds P(sup_t E_t ≥ 1/α) ≤ α under the null: the evidence may be looked at after
 * every interval and a rollback at E ≥ 1/α keeps the false-alarm probability below α.
 *
 * The mirror test (early promotion) swaps the roles: null ρ ≥ ρ0, alternatives ρ_k < ρ0 on a grid
 * of ρ_k/ρ0 in (0, 1); E ≥ 1/α_promote is evidence the canary is no worse than the tolerance.
 *
 * The guarantee needs counts of disjoint intervals (counter increments between samples): folding
 * overlapping windows counts events twice and voids it. The state is plain JSON numbers, the
 * likelihood ratios in log space.
 */

/** Alternatives ρ/ρ0 for the regression test: log-spaced from 1.1 to 50. */
export const REGRESSION_GRID: readonly number[] = logSpaced(1.1, 50, 16);
/** Alternatives ρ/ρ0 for the promotion test: evenly spaced in (0, 1). */
export const PROMOTION_GRID: readonly number[] = Array.from(
  { length: 16 },
  (_, k) => 1 - (k + 1) / 17,
);

const LOG_REGRESSION_GRID = REGRESSION_GRID.map(Math.log);
const LOG_PROMOTION_GRID = PROMOTION_GRID.map(Math.log);

function logSpaced(from: number, to: number, n: number): number[] {
  return Array.from({ length: n }, (_, k) => from * (to / from) ** (k / (n - 1)));
}

/** The running evidence of one check, stored with the rollout. */
export const Evidence = z.object({
  /** The tolerance ρ0 the evidence is measured against (canary rate ≤ maxRatio × stable rate). */
  maxRatio: z.number().min(1),
  /** log Π_i L_i(ρ_k) per point of `REGRESSION_GRID`. */
  regression: z.array(z.number()),
  /** log Π_i L_i(ρ_k) per point of `PROMOTION_GRID`. */
  promotion: z.array(z.number()),
  intervals: z.number().int().nonnegative(),
  canaryRequests: z.number().nonnegative(),
  stableRequests: z.number().nonnegative(),
  canaryEvents: z.number().nonnegative(),
  stableEvents: z.number().nonnegative(),
  /** Σ T_i w_i: the canary's events had it behaved exactly like stable (ρ = 1). */
  expectedCanaryEvents: z.number().nonnegative(),
});
export type Evidence = z.infer<typeof Evidence>;

/** One non-overlapping interval's counts, for one kind of event (errors, or slow requests). */
export const IntervalCounts = z.object({
  canaryRequests: z.number().int().nonnegative(),
  canaryEvents: z.number().int().nonnegative(),
  stableRequests: z.number().int().nonnegative(),
  stableEvents: z.number().int().nonnegative(),
});
export type IntervalCounts = z.infer<typeof IntervalCounts>;

/**
 * No evidence yet. Without `promotion` the mirror test is not kept (its array stays empty and
 * never promotes): a check without early promotion carries half the state and work.
 */
export function emptyEvidence(maxRatio: number, promotion = true): Evidence {
  if (!(maxRatio >= 1)) throw new RangeError(`maxRatio must be ≥ 1, got ${maxRatio}`);
  return {
    maxRatio,
    regression: REGRESSION_GRID.map(() => 0),
    promotion: promotion ? PROMOTION_GRID.map(() => 0) : [],
    intervals: 0,
    canaryRequests: 0,
    stableRequests: 0,
    canaryEvents: 0,
    stableEvents: 0,
    expectedCanaryEvents: 0,
  };
}

/**
 * Folds one interval in. An interval where either side served no requests carries no information
 * about ρ (the split is 0 or 1) and only adds to the request totals.
 */
export function foldInterval(evidence: Evidence, counts: IntervalCounts): Evidence {
  const { canaryRequests: c, stableRequests: s, canaryEvents: x, stableEvents: y } = counts;
  const next: Evidence = {
    ...evidence,
    intervals: evidence.intervals + 1,
    canaryRequests: evidence.canaryRequests + c,
    stableRequests: evidence.stableRequests + s,
    canaryEvents: evidence.canaryEvents + x,
    stableEvents: evidence.stableEvents + y,
  };
  const total = x + y;
  if (c === 0 || s === 0 || total === 0) return next;
  const w = c / (c + s);
  const rho0 = evidence.maxRatio;
  return {
    ...next,
    regression: addLogRatios(
      evidence.regression,
      REGRESSION_GRID,
      LOG_REGRESSION_GRID,
      rho0,
      w,
      x,
      total,
    ),
    promotion: addLogRatios(
      evidence.promotion,
      PROMOTION_GRID,
      LOG_PROMOTION_GRID,
      rho0,
      w,
      x,
      total,
    ),
    expectedCanaryEvents: evidence.expectedCanaryEvents + total * w,
  };
}

/** logs[k] + log L(ρ0·grid[k]) for one interval: x log(ρ_k/ρ0) + T log((ρ0w+1−w)/(ρ_k w+1−w)). */
function addLogRatios(
  logs: readonly number[],
  grid: readonly number[],
  logGrid: readonly number[],
  rho0: number,
  w: number,
  x: number,
  total: number,
): number[] {
  const base = Math.log(rho0 * w + 1 - w);
  const out = new Array<number>(logs.length);
  for (let k = 0; k < logs.length; k++) {
    out[k] = logs[k]! + x * logGrid[k]! + total * (base - Math.log(rho0 * grid[k]! * w + 1 - w));
  }
  return out;
}

/** log of the equally weighted mixture Σ_k exp(l_k) / K, computed stably. */
export function logMixture(logRatios: readonly number[]): number {
  if (logRatios.length === 0) return 0;
  let max = -Infinity;
  for (const l of logRatios) if (l > max) max = l;
  let sum = 0;
  for (const l of logRatios) sum += Math.exp(l - max);
  return max + Math.log(sum / logRatios.length);
}
