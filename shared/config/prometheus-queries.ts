import { z } from 'zod';
import { Duration } from './duration.js';

/**
 * The policy file's PromQL templates for the `prometheus` metrics provider: `prometheus.queries`
 * for every service, overridden field by field by `services.<name>.prometheus`.
 *
 * Templates use `$name` placeholders (PromQL itself never uses `$`):
 * - `$service`, `$version`, `$role` (`canary` or `stable`): what is being measured;
 * - `$selector`: the rendered `selector` template, label matchers for one version's series;
 * - `$window`: the lookback as a PromQL duration (`30000ms`);
 * - `$quantile`: `0.5`, `0.95` or `0.99` (the `latency` template is run once per percentile);
 * - `$le`: a histogram bucket's upper bound in `latencyUnit` (`0.3`), for the `bucket` template;
 *   `$leRe`: the same bound as a regular expression matching every way an exporter or Prometheus
 *   writes it (`0.3`, `0.30`; `1`, `1.0`), for `le=~"$leRe"`.
 *
 * Each query must return a single number (a scalar, or a vector of exactly one series).
 */

export const PLACEHOLDERS = [
  'service',
  'version',
  'role',
  'selector',
  'window',
  'quantile',
  'le',
  'leRe',
] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

export const DEFAULT_QUERIES = {
  selector: 'service="$service",version="$version"',
  requests: 'sum(increase(http_requests_total{$selector}[$window]))',
  // A version that never failed has no 5xx series at all: that is zero errors, not missing
  // data (`requests` being empty still makes the whole measurement unavailable).
  errors: 'sum(increase(http_requests_total{$selector,code=~"5.."}[$window])) or vector(0)',
  latency:
    'histogram_quantile($quantile, sum by (le) (rate(http_request_duration_seconds_bucket{$selector}[$window])))',
  // Requests no slower than $le: a sequential latency check counts the rest as slow. $le must be
  // one of the histogram's bucket bounds; matched by value, however the label writes it (Prometheus
  // 3 stores `le` as a float, `1.0`; exporters may write `1`).
  bucket: 'sum(increase(http_request_duration_seconds_bucket{$selector,le=~"$leRe"}[$window]))',
  latencyUnit: 'seconds',
} as const;

function template(allowed: readonly Placeholder[], required: readonly Placeholder[] = []) {
  return z
    .string()
    .min(1)
    .superRefine((text, ctx) => {
      for (const [, name] of text.matchAll(/\$([A-Za-z_]\w*)/g)) {
        if (!(allowed as readonly string[]).includes(name!)) {
          ctx.addIssue({
            code: 'custom',
            message: `unknown placeholder $${name}; this template may use ${allowed.map((p) => `$${p}`).join(', ')}`,
          });
        }
      }
      for (const name of required) {
        if (!text.includes(`$${name}`)) {
          ctx.addIssue({ code: 'custom', message: `must use $${name}` });
        }
      }
    });
}

const QUERY_PLACEHOLDERS = ['service', 'version', 'role', 'selector', 'window'] as const;

const TemplateFields = {
  /** Label matchers (without braces) selecting one version's series. */
  selector: template(['service', 'version', 'role']),
  /** Requests in the window. */
  requests: template(QUERY_PLACEHOLDERS),
  /** Failed requests in the window. */
  errors: template(QUERY_PLACEHOLDERS),
  /** One latency percentile over the window. */
  latency: template([...QUERY_PLACEHOLDERS, 'quantile'], ['quantile']),
  /** Requests no slower than `$le` in the window (a histogram bucket's increase). */
  bucket: template([...QUERY_PLACEHOLDERS, 'le', 'leRe'], ['le']),
  /** What `latency` returns: `seconds` (Prometheus' convention) or `milliseconds`. */
  latencyUnit: z.enum(['seconds', 'milliseconds']),
};

export const PromQueryTemplates = z.strictObject({
  selector: TemplateFields.selector.default(DEFAULT_QUERIES.selector),
  requests: TemplateFields.requests.default(DEFAULT_QUERIES.requests),
  errors: TemplateFields.errors.default(DEFAULT_QUERIES.errors),
  latency: TemplateFields.latency.default(DEFAULT_QUERIES.latency),
  bucket: TemplateFields.bucket.default(DEFAULT_QUERIES.bucket),
  latencyUnit: TemplateFields.latencyUnit.default(DEFAULT_QUERIES.latencyUnit),
});
export type PromQueryTemplates = z.infer<typeof PromQueryTemplates>;

/**
 * `services.<name>.prometheus`: any subset of the templates, for one service. No defaults here:
 * a field left out falls back to `prometheus.queries`, not to the built-in default.
 */
export const ServicePromQueries = z.strictObject(TemplateFields).partial();
export type ServicePromQueries = z.infer<typeof ServicePromQueries>;

export const PrometheusSettings = z.strictObject({
  queries: PromQueryTemplates.default(PromQueryTemplates.parse({})),
  /**
   * The shortest lookback a query uses (`$window`), whatever the agent's sample window: `rate`
   * and `increase` need at least two scrapes in the window. Default 30s (two 15 s scrapes).
   */
  minWindow: Duration.default(30_000),
  /** How long one query may take before the measurement is reported unavailable. Default 5s. */
  timeout: Duration.default(5_000),
});
export type PrometheusSettings = z.infer<typeof PrometheusSettings>;
