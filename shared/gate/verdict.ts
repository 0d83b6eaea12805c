import type { GateMetric } from '../rollout/plan.js';

/** One check as judged in one cluster: enough for a person to read why a gate decided. */
export type CheckResult = MetricCheckResult | WebhookCheckResult | DependentCheckResult;

/** A metric check over the canary's traffic. */
export interface MetricCheckResult {
  kind?: 'metric';
  cluster: string;
  metric: GateMetric;
  mode: 'absolute' | 'relative';
  /** The canary's measured value (error rate as a fraction, latency in ms). */
  measured: number;
  /** The limit the measured value was held to (for `relative`, already multiplied by the baseline). */
  threshold: number;
  /** The stable version's value, for `relative` checks. */
  baseline?: number;
  passed: boolean;
}

/**
 * A consumer's own check over its stable traffic while this rollout's canary runs (see
 * `judgeDependents`): a failure is attributed to the provider under rollout.
 */
export interface DependentCheckResult {
  kind: 'dependent';
  cluster: string;
  /** The consumer. */
  service: string;
  /** The consumer's version, the same throughout: it did not change. */
  version: string;
  metric: GateMetric;
  mode: 'absolute' | 'relative';
  measured: number;
  threshold: number;
  /** The consumer's own value in its first window of this rollout, for `relative` checks. */
  baseline?: number;
  passed: boolean;
}

/** A webhook check (`Gate.webhooks`) as the cluster's agent ran it. */
export interface WebhookCheckResult {
  kind: 'webhook';
  cluster: string;
  /** The webhook's name in the policy. */
  webhook: string;
  passed: boolean;
  /** What came back, or why it failed (`status 500, expected 200`). */
  detail: string;
}

/**
 * - `pass`: every check passed in every cluster with enough traffic.
 * - `failing`: a check failed, but fewer than `failureLimit` times in a row.
 * - `fail`: checks failed `failureLimit` times in a row: roll back.
 * - `inconclusive`: not enough traffic, or a cluster's metrics were unavailable.
 */
export type GateOutcome = 'pass' | 'failing' | 'fail' | 'inconclusive';

export interface GateVerdict {
  outcome: GateOutcome;
  consecutiveFailures: number;
  checks: CheckResult[];
  /** Why an evaluation was inconclusive, per cluster (too few requests, metrics unavailable). */
  inconclusive: { cluster: string; reason: string }[];
  /** A one-line summary, e.g. `error_rate 7.9% > 2.0% in eu-west`. */
  summary: string;
}
