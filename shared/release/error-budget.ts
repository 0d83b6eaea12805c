import type { HealthSamplePayload } from '../contracts/events.js';

/**
 * A release's failure budget (issue 12, item 7; `release.errorBudget`), pure: the extra errors the
 * canaries served across all members, beyond what each stable version's error rate predicts for
 * the same requests, against the budget. Spending it all rolls the release back even when no
 * single gate failed: three members each a little worse than stable, each passing its own gate,
 * add up.
 *
 * For one member in one cluster over one window: expected = canary requests × the stable error
 * rate of that window (the same traffic, the same time: an incident hitting both versions spends
 * nothing); excess = canary errors − expected.
 *
 * Where excess is clamped at zero, and why there: per member and cluster, over all its windows.
 * - Not per window: a healthy canary's errors scatter around the prediction, and clamping each
 *   window keeps the positive half of that noise. With 1% errors and 100 canary requests per
 *   window, that is about 0.37 errors per window for nothing: a long, healthy release would spend
 *   any budget. Summed first, the noise cancels (what remains grows like the square root of the
 *   errors, not like the number of windows).
 * - Not across members or clusters: a member doing better than its stable version must not pay for
 *   another that does worse (users of the second still saw the errors), and neither may a cluster
 *   where a version does well hide a cluster where it regressed.
 *
 * A window is counted once per member and cluster: a redelivered sample (the same window) or one
 * overlapping a window already counted is ignored with the reason, so delivery order and
 * duplicates never change the sum. Windows whose stable version served fewer than
 * `MIN_STABLE_REQUESTS` requests (the last stage at 100%, or a trickle) are predicted with the
 * member's pooled stable rate in that cluster instead; with no stable traffic at all they spend
 * nothing and are reported as not judged.
 */

/** The requests and errors of one version over one window. */
export interface BudgetCounts {
  requests: number;
  errors: number;
}

/** One window of one member in one cluster. */
export interface BudgetSample {
  service: string;
  cluster: string;
  /** The window (fromMs, toMs], ms since epoch: what makes a redelivered sample the same one. */
  fromMs: number;
  toMs: number;
  canary: BudgetCounts;
  stable: BudgetCounts;
}

/** Below this many stable requests in a window, its own stable rate is too noisy to predict from. */
export const MIN_STABLE_REQUESTS = 100;

/** What has been counted for one member in one cluster. Plain data, stored with the release. */
export interface ClusterTally {
  canaryRequests: number;
  canaryErrors: number;
  /** Expected canary errors of the windows predicted from their own stable rate. */
  expectedErrors: number;
  /** Canary requests of the windows with too little stable traffic to predict from. */
  pooledRequests: number;
  stableRequests: number;
  stableErrors: number;
  /** The windows counted, merged where they touch: [fromMs, toMs] pairs, sorted. */
  windows: [number, number][];
}

export interface ErrorBudgetState {
  /** Extra canary errors allowed (`release.errorBudget`). */
  budget: number;
  /** service → cluster → tally. */
  tallies: Record<string, Record<string, ClusterTally>>;
}

export function emptyErrorBudget(budget: number): ErrorBudgetState {
  return { budget, tallies: {} };
}

/**
 * Counts `sample` into the budget, or leaves the state as it was and says why (`ignored`): a
 * count that is not a whole number ≥ 0, more errors than requests, a window that runs backwards,
 * a service outside `members` (when given), or a window already counted.
 */
export function foldBudgetSample(
  state: ErrorBudgetState,
  sample: BudgetSample,
  members?: readonly string[],
): { state: ErrorBudgetState; ignored?: string } {
  const problem = sampleProblem(sample, members);
  if (problem !== undefined) return { state, ignored: problem };
  const { service, cluster, fromMs, toMs, canary, stable } = sample;
  const before = state.tallies[service]?.[cluster] ?? emptyTally();
  if (before.windows.some(([from, to]) => fromMs < to && toMs > from)) {
    return {
      state,
      ignored: `${service} in ${cluster}: the window (${fromMs}, ${toMs}] was already counted (a redelivered sample, or one overlapping a counted window)`,
    };
  }
  const ownRate = stable.requests >= MIN_STABLE_REQUESTS;
  const tally: ClusterTally = {
    canaryRequests: before.canaryRequests + canary.requests,
    canaryErrors: before.canaryErrors + canary.errors,
    expectedErrors:
      before.expectedErrors + (ownRate ? (canary.requests * stable.errors) / stable.requests : 0),
    pooledRequests: before.pooledRequests + (ownRate ? 0 : canary.requests),
    stableRequests: before.stableRequests + stable.requests,
    stableErrors: before.stableErrors + stable.errors,
    windows: mergeWindow(before.windows, [fromMs, toMs]),
  };
  return {
    state: {
      budget: state.budget,
      tallies: {
        ...state.tallies,
        [service]: { ...state.tallies[service], [cluster]: tally },
      },
    },
  };
}

export interface BudgetSpending {
  budget: number;
  /** Extra canary errors so far, summed over members (each clamped at 0 per cluster). */
  spent: number;
  /** spent ≥ budget: roll the release back. */
  exhausted: boolean;
  /** Each member's extra errors, in the order first counted. */
  members: { service: string; excess: number }[];
  /** Canary requests no stable traffic could predict (not judged), per member with any. */
  unjudged: { service: string; requests: number }[];
}

/** Extra errors for people: whole numbers stay whole, others get one decimal. */
export function formatErrors(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

/** Where the budget stands. */
export function budgetSpending(state: ErrorBudgetState): BudgetSpending {
  const members: BudgetSpending['members'] = [];
  const unjudged: BudgetSpending['unjudged'] = [];
  for (const [service, clusters] of Object.entries(state.tallies)) {
    let excess = 0;
    let unpredicted = 0;
    for (const tally of Object.values(clusters)) {
      if (tally.stableRequests === 0) {
        // No stable traffic in any window (every one was pooled): nothing to predict from.
        unpredicted += tally.pooledRequests;
        continue;
      }
      const pooledErrors = (tally.pooledRequests * tally.stableErrors) / tally.stableRequests;
      excess += Math.max(0, tally.canaryErrors - tally.expectedErrors - pooledErrors);
    }
    members.push({ service, excess });
    if (unpredicted > 0) unjudged.push({ service, requests: unpredicted });
  }
  const spent = members.reduce((sum, m) => sum + m.excess, 0);
  return { budget: state.budget, spent, exhausted: spent >= state.budget, members, unjudged };
}

/**
 * The budget's view of one `health_sample` of a member: the counted interval when the agent's
 * provider counts (non-overlapping by construction), else the measurement over the window ending
 * at `windowEnd` (the envelope's `at`). A version that could not be measured gives no sample.
 */
export function budgetSampleOf(
  service: string,
  cluster: string,
  payload: HealthSamplePayload,
  windowEnd: number,
): { sample: BudgetSample } | { ignored: string } {
  const { canary, stable } = payload;
  if (canary.status !== 'ok' || stable.status !== 'ok') {
    const which = canary.status !== 'ok' ? canary : stable;
    return {
      ignored: `${service} in ${cluster}: ${canary.status !== 'ok' ? 'canary' : 'stable'} not measured (${
        which.status === 'unavailable' ? which.reason : 'unknown'
      })`,
    };
  }
  if (canary.counts !== undefined && stable.counts !== undefined) {
    return {
      sample: {
        service,
        cluster,
        fromMs: Math.min(canary.counts.fromMs, stable.counts.fromMs),
        toMs: Math.max(canary.counts.toMs, stable.counts.toMs),
        canary: { requests: canary.counts.requests, errors: canary.counts.errors },
        stable: { requests: stable.counts.requests, errors: stable.counts.errors },
      },
    };
  }
  return {
    sample: {
      service,
      cluster,
      fromMs: windowEnd - payload.windowMs,
      toMs: windowEnd,
      canary: { requests: canary.requests, errors: canary.errors },
      stable: { requests: stable.requests, errors: stable.errors },
    },
  };
}

function sampleProblem(sample: BudgetSample, members?: readonly string[]): string | undefined {
  const where = `${String(sample.service)} in ${String(sample.cluster)}`;
  if (members !== undefined && !members.includes(sample.service)) {
    return `${where}: not a member of this release (${members.join(', ')})`;
  }
  const counts: [string, unknown][] = [
    ['canary.requests', sample.canary?.requests],
    ['canary.errors', sample.canary?.errors],
    ['stable.requests', sample.stable?.requests],
    ['stable.errors', sample.stable?.errors],
    ['fromMs', sample.fromMs],
    ['toMs', sample.toMs],
  ];
  for (const [field, value] of counts) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      return `${where}: ${field} is ${value === undefined ? 'missing' : String(value)}, not a whole number ≥ 0`;
    }
  }
  if (sample.toMs <= sample.fromMs) {
    return `${where}: the window (${sample.fromMs}, ${sample.toMs}] is empty or runs backwards`;
  }
  for (const side of ['canary', 'stable'] as const) {
    if (sample[side].errors > sample[side].requests) {
      return `${where}: ${side}.errors (${sample[side].errors}) exceeds ${side}.requests (${sample[side].requests})`;
    }
  }
  return undefined;
}

function emptyTally(): ClusterTally {
  return {
    canaryRequests: 0,
    canaryErrors: 0,
    expectedErrors: 0,
    pooledRequests: 0,
    stableRequests: 0,
    stableErrors: 0,
    windows: [],
  };
}

/** `windows` with `added` inserted, merging the ones that touch (sequential windows stay one). */
function mergeWindow(windows: [number, number][], added: [number, number]): [number, number][] {
  const all = [...windows, added].sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const [from, to] of all) {
    const last = merged[merged.length - 1];
    if (last !== undefined && from <= last[1]) last[1] = Math.max(last[1], to);
    else merged.push([from, to]);
  }
  return merged;
}
