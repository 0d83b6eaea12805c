import { z } from 'zod';
import { GateMetric, type GateCheck, type SequentialCheck } from '../rollout/plan.js';
import { Duration } from './duration.js';

/**
 * One check of a gate as the policy file writes it. Threshold checks (`absolute`, `relative`,
 * the default) compare one window's value with `max`. A `sequential` check is judged by the
 * sequential judge on every sample:
 *
 * ```yaml
 * - metric: error_rate
 *   mode: sequential
 *   alpha: 0.01          # false-alarm probability of a rollback, 0 < alpha ≤ 0.2 (default 0.01)
 *   maxRatio: 1.2        # the canary may have up to 1.2× stable's error rate (≥ 1)
 *   promoteEarly: true   # end the stage before its bake when the canary is clearly no worse
 *   promoteAlpha: 0.05   # the early promotion's own error probability (default 0.05)
 *   minBake: 1m          # never earlier than this (default 1m)
 * - metric: latency_p99
 *   mode: sequential
 *   maxRatio: 1.2
 *   latencyBoundMs: 300  # counts requests slower than 300 ms (histogram buckets)
 * ```
 */
export const PolicyGateCheck = z
  .strictObject({
    metric: GateMetric,
    mode: z.enum(['absolute', 'relative', 'sequential']).default('absolute'),
    max: z.number().positive().optional(),
    alpha: z.number().optional(),
    maxRatio: z.number().optional(),
    latencyBoundMs: z.number().positive().optional(),
    promoteEarly: z.boolean().optional(),
    promoteAlpha: z.number().optional(),
    minBake: Duration.optional(),
  })
  .superRefine((check, ctx) => {
    const problem = (field: string, message: string) =>
      ctx.addIssue({ code: 'custom', path: [field], message });
    if (check.mode !== 'sequential') {
      if (check.max === undefined)
        problem(
          'max',
          `is required for ${check.mode === 'absolute' ? 'an absolute' : 'a relative'} check`,
        );
      for (const field of SEQUENTIAL_FIELDS) {
        if (check[field] !== undefined) problem(field, 'applies only to mode: sequential');
      }
      return;
    }
    if (check.max !== undefined) {
      problem('max', 'a sequential check has no max; its tolerance is maxRatio');
    }
    if (check.alpha !== undefined && !(check.alpha > 0 && check.alpha <= 0.2)) {
      problem('alpha', `must be in (0, 0.2], got ${check.alpha}`);
    }
    if (check.maxRatio === undefined) {
      problem('maxRatio', 'is required for a sequential check (e.g. 1.2: up to 1.2× stable)');
    } else if (!(check.maxRatio >= 1)) {
      problem('maxRatio', `must be at least 1 (1 = no worse than stable), got ${check.maxRatio}`);
    }
    if (!countable(check.metric, check.latencyBoundMs)) {
      problem(
        'metric',
        `${check.metric} cannot be counted: a percentile is no count of events. Set ` +
          'latencyBoundMs to count requests slower than it (from histogram buckets)',
      );
    }
    if (check.metric === 'error_rate' && check.latencyBoundMs !== undefined) {
      problem('latencyBoundMs', 'applies only to latency metrics');
    }
    if (
      check.promoteAlpha !== undefined &&
      !(check.promoteAlpha > 0 && check.promoteAlpha <= 0.2)
    ) {
      problem('promoteAlpha', `must be in (0, 0.2], got ${check.promoteAlpha}`);
    }
    if (!check.promoteEarly) {
      for (const field of ['promoteAlpha', 'minBake'] as const) {
        if (check[field] !== undefined) problem(field, 'applies only with promoteEarly: true');
      }
    }
  });
export type PolicyGateCheck = z.infer<typeof PolicyGateCheck>;

const SEQUENTIAL_FIELDS = [
  'alpha',
  'maxRatio',
  'latencyBoundMs',
  'promoteEarly',
  'promoteAlpha',
  'minBake',
] as const;

export const DEFAULT_ALPHA = 0.01;
export const DEFAULT_PROMOTE_ALPHA = 0.05;
export const DEFAULT_MIN_BAKE_MS = 60_000;

/** Whether the sequential judge can count events for the metric: errors, or slow requests. */
export function countable(metric: GateMetric, latencyBoundMs: number | undefined): boolean {
  return metric === 'error_rate' || latencyBoundMs !== undefined;
}

/** Splits a policy's checks into the plan's threshold checks and sequential checks. */
export function planChecks(checks: readonly PolicyGateCheck[]): {
  checks: GateCheck[];
  sequential: SequentialCheck[];
} {
  const threshold: GateCheck[] = [];
  const sequential: SequentialCheck[] = [];
  for (const c of checks) {
    if (c.mode !== 'sequential') {
      threshold.push({ metric: c.metric, mode: c.mode, max: c.max! });
      continue;
    }
    sequential.push({
      metric: c.metric,
      alpha: c.alpha ?? DEFAULT_ALPHA,
      maxRatio: c.maxRatio!,
      ...(c.latencyBoundMs !== undefined ? { latencyBoundMs: c.latencyBoundMs } : {}),
      ...(c.promoteEarly
        ? {
            promoteEarly: {
              alpha: c.promoteAlpha ?? DEFAULT_PROMOTE_ALPHA,
              minBakeMs: c.minBake ?? DEFAULT_MIN_BAKE_MS,
            },
          }
        : {}),
    });
  }
  return { checks: threshold, sequential };
}
