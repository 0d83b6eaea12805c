import type { DependentSample, Measurement } from '../contracts/events.js';
import type { DependentWatch, GateCheck } from '../rollout/plan.js';
import { metricValue } from './metric-value.js';
import type { DependentCheckResult } from './verdict.js';

/**
 * Judges the consumers of a rollout's service in one cluster against their own threshold checks
 * (`RolloutPlan.dependents`): a consumer whose version did not change and whose stable traffic
 * breaches them while the provider's canary runs is evidence against the canary. Pure.
 *
 * - Absolute checks hold the consumer's window to `max`.
 * - Relative checks hold it to `max ×` the consumer's own baseline (its first window in this
 *   rollout, see `DependentSample.baseline`); without a usable baseline they are not judged, and
 *   the absolute checks still are.
 * - A consumer that is itself mid-rollout here (`changing`), or whose baseline was of another
 *   version, is not judged: its own change could explain its health.
 * - A consumer with fewer than its `minRequests` is too quiet to judge and is skipped: an idle
 *   caller is no evidence either way, and must not hold its provider back forever.
 * - A consumer whose metrics are unavailable makes the cluster inconclusive, like a canary's:
 *   a breach must never hide behind missing data.
 */
export function judgeDependents(
  watched: readonly DependentWatch[],
  cluster: string,
  samples: readonly DependentSample[] | undefined,
): { checks: DependentCheckResult[]; inconclusive?: string } {
  const checks: DependentCheckResult[] = [];
  const unavailable: string[] = [];
  for (const watch of watched) {
    const sample = samples?.find((s) => s.service === watch.service);
    if (sample === undefined || sample.changing === true) continue;
    const now = sample.measurement;
    if (now.status === 'unavailable') {
      unavailable.push(`consumer ${watch.service} metrics unavailable (${now.reason})`);
      continue;
    }
    if (now.requests === 0 || now.requests < watch.minRequests) continue;
    const baseline = usableBaseline(sample.baseline, watch.minRequests);
    for (const check of watch.checks) {
      const result = judgeOne(check, watch.service, sample.version, cluster, now, baseline);
      if (result !== undefined) checks.push(result);
    }
  }
  return unavailable.length === 0 ? { checks } : { checks, inconclusive: unavailable.join('; ') };
}

type Measured = Extract<Measurement, { status: 'ok' }>;

function usableBaseline(
  baseline: Measurement | undefined,
  minRequests: number,
): Measured | undefined {
  if (baseline?.status !== 'ok') return undefined;
  return baseline.requests > 0 && baseline.requests >= minRequests ? baseline : undefined;
}

function judgeOne(
  check: GateCheck,
  service: string,
  version: string,
  cluster: string,
  now: Measured,
  baseline: Measured | undefined,
): DependentCheckResult | undefined {
  const measured = metricValue(check.metric, now);
  const common = { kind: 'dependent' as const, cluster, service, version, metric: check.metric };
  if (check.mode === 'absolute') {
    return {
      ...common,
      mode: 'absolute',
      measured,
      threshold: check.max,
      passed: measured <= check.max,
    };
  }
  if (baseline === undefined) return undefined;
  const base = metricValue(check.metric, baseline);
  const threshold = base * check.max;
  return {
    ...common,
    mode: 'relative',
    measured,
    threshold,
    baseline: base,
    passed: measured <= threshold,
  };
}
