import type { Measurement } from '../../shared/contracts/events.js';
import type { PromQueryTemplates } from '../../shared/config/prometheus-queries.js';
import type { MeasureQuery } from './metrics-provider.js';

/** Reading Prometheus' answers into numbers and measurements: pure, for `PrometheusMetrics`. */

/**
 * One query's answer: a number, or why there is none, and whose fault that is: Prometheus
 * itself (unreachable, not Prometheus at that URL) or the query (refused, wrong shape).
 */
export type Answer = { value: number } | { problem: string; cause: 'prometheus' | 'query' };

export interface Series {
  metric?: Record<string, string>;
  value: [number, string];
}

/** A vector's single number, or why it is not one. */
export function single(
  series: Series[],
  promql: string,
  options: { emptyIsFine?: boolean } = {},
): Answer {
  if (series.length === 0) {
    return options.emptyIsFine
      ? { value: Number.NaN }
      : { problem: `no data (the query returned no series): ${promql}`, cause: 'query' };
  }
  if (series.length > 1) {
    return {
      problem: `the query returned ${series.length} series, not one: aggregate it (e.g. sum(...)): ${promql}`,
      cause: 'query',
    };
  }
  return { value: Number(series[0]!.value[1]) };
}

/**
 * One version's measurement from the answers to its requests, errors, p50, p95 and p99 queries:
 * unavailable, with the reason, on any missing, negative, NaN or infinite number.
 */
export function assemble(
  query: MeasureQuery,
  templates: PromQueryTemplates,
  windowMs: number,
  answers: Answer[],
): Measurement {
  const what = `${query.service} ${query.version} (${query.role})`;
  const [requests, errors, p50, p95, p99] = answers as [Answer, Answer, Answer, Answer, Answer];
  const named = {
    requests,
    errors,
    'latency p50': p50,
    'latency p95': p95,
    'latency p99': p99,
  };
  for (const [name, answer] of Object.entries(named)) {
    if ('problem' in answer) return unavailable(`${name} of ${what}: ${answer.problem}`);
  }
  const value = (a: Answer) => (a as { value: number }).value;
  const count = value(requests);
  if (count < 0 || value(errors) < 0) {
    return unavailable(`requests or errors of ${what} are negative: check the templates`);
  }
  const latency = { p50: value(p50), p95: value(p95), p99: value(p99) };
  for (const [name, v] of Object.entries(latency)) {
    if (Number.isNaN(v)) {
      return unavailable(
        `latency ${name} of ${what} is NaN: no requests observed over the last ${windowMs} ms`,
      );
    }
    if (!Number.isFinite(v) || v < 0) {
      return unavailable(
        `latency ${name} of ${what} is ${v}: above the highest histogram bucket, or a template that does not return a duration`,
      );
    }
  }
  const scale = templates.latencyUnit === 'seconds' ? 1000 : 1;
  const total = Math.round(count);
  return {
    status: 'ok',
    requests: total,
    // Two increase() results are extrapolated separately and can disagree by a fraction.
    errors: Math.min(Math.round(value(errors)), total),
    latencyMs: { p50: latency.p50 * scale, p95: latency.p95 * scale, p99: latency.p99 * scale },
  };
}

export interface PromResponse {
  status: 'success' | 'error';
  errorType?: string;
  error?: string;
  data?: { resultType: string; result: unknown };
}

export function unavailable(reason: string): Measurement {
  return { status: 'unavailable', reason };
}
