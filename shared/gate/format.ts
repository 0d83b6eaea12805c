import type { GateMetric } from '../rollout/plan.js';
import type { CheckResult } from './verdict.js';

/**
 * How gate numbers read to a person: error rates as percentages, latencies in milliseconds.
 * Used by the gate summary and by the state machine's alerts, so both say the same thing.
 */

function formatAt(metric: GateMetric, value: number, digits: number): string {
  return metric === 'error_rate'
    ? `${(value * 100).toFixed(digits)}%`
    : `${value.toFixed(digits)}ms`;
}

/**
 * Formats a measured value and its threshold with the least precision that still tells them
 * apart, so an alert never reads `2.0% > 2.0%`.
 */
function formatPair(metric: GateMetric, a: number, b: number): [string, string, number] {
  const first = metric === 'error_rate' ? 1 : 0;
  for (let digits = first; digits < first + 4; digits++) {
    const pair: [string, string, number] = [
      formatAt(metric, a, digits),
      formatAt(metric, b, digits),
      digits,
    ];
    if (pair[0] !== pair[1] || a === b) return pair;
  }
  return [formatAt(metric, a, first + 3), formatAt(metric, b, first + 3), first + 3];
}

/** `1.5` for a relative limit of 300 over a baseline of 200; rounded so float noise never shows. */
function multiplier(threshold: number, baseline: number): string {
  return String(Number((threshold / baseline).toPrecision(3)));
}

/**
 * One check in one cluster, e.g. `error_rate 7.9% > 2.0% (absolute) in eu-west` or
 * `latency_p99 412ms > 300ms (1.5× stable 200ms) in us-east`.
 */
export function formatCheck(check: CheckResult): string {
  if (check.kind === 'webhook') {
    return `webhook ${check.webhook} ${check.passed ? 'passed' : 'failed'} in ${check.cluster}: ${check.detail}`;
  }
  const [measured, threshold, digits] = formatPair(check.metric, check.measured, check.threshold);
  const op = check.passed ? '≤' : '>';
  // A consumer's relative check compares it with itself before, not with a stable version.
  const against = check.kind === 'dependent' ? 'its baseline' : 'stable';
  let how = 'absolute';
  if (check.mode === 'relative') {
    const baseline = formatAt(check.metric, check.baseline ?? 0, digits);
    how =
      check.baseline === undefined || check.baseline === 0
        ? `relative to ${against} ${baseline}`
        : `${multiplier(check.threshold, check.baseline)}× ${against} ${baseline}`;
  }
  const what =
    check.kind === 'dependent'
      ? `consumer ${check.service} ${check.version} (unchanged) ${check.metric}`
      : check.metric;
  return `${what} ${measured} ${op} ${threshold} (${how}) in ${check.cluster}`;
}

/** Several checks on one line, separated by `; `. */
export function formatChecks(checks: readonly CheckResult[]): string {
  return checks.map(formatCheck).join('; ');
}
