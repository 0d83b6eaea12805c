import type { Placeholder, PromQueryTemplates } from '../../shared/config/prometheus-queries.js';
import type { MeasureQuery } from './metrics-provider.js';

/** The four queries one measurement runs, rendered for one version and window. */
export interface RenderedQueries {
  requests: string;
  errors: string;
  latency: { p50: string; p95: string; p99: string };
}

export const QUANTILES = { p50: '0.5', p95: '0.95', p99: '0.99' } as const;

/** Fills a template's `$name` placeholders (see `shared/config/prometheus-queries.ts`). */
export function fill(template: string, values: Partial<Record<Placeholder, string>>): string {
  return template.replace(/\$([A-Za-z_]\w*)/g, (whole, name: string) => {
    const value = values[name as Placeholder];
    return value === undefined ? whole : value;
  });
}

/** A PromQL duration for `ms`: whole milliseconds, which every Prometheus 2.x parses. */
export function promDuration(ms: number): string {
  return `${Math.max(1, Math.round(ms))}ms`;
}

/**
 * Renders the templates for one query. Label values are escaped as PromQL double-quoted
 * strings, so a service or version cannot break out of its matcher.
 */
export function renderQueries(
  templates: PromQueryTemplates,
  query: Pick<MeasureQuery, 'service' | 'version' | 'role'>,
  windowMs: number,
): RenderedQueries {
  const labels = labelValues(query);
  const selector = renderSelector(templates, query);
  const values = { ...labels, selector, window: promDuration(windowMs) };
  const latency = (quantile: string) => fill(templates.latency, { ...values, quantile });
  return {
    requests: fill(templates.requests, values),
    errors: fill(templates.errors, values),
    latency: {
      p50: latency(QUANTILES.p50),
      p95: latency(QUANTILES.p95),
      p99: latency(QUANTILES.p99),
    },
  };
}

/** The label matchers (no braces) selecting one version's series. */
export function renderSelector(
  templates: Pick<PromQueryTemplates, 'selector'>,
  query: Pick<MeasureQuery, 'service' | 'version' | 'role'>,
): string {
  return fill(templates.selector, labelValues(query));
}

function labelValues(query: Pick<MeasureQuery, 'service' | 'version' | 'role'>) {
  return {
    service: escapeLabel(query.service),
    version: escapeLabel(query.version),
    role: query.role,
  };
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * The queries of one interval's counts: requests, errors, and requests no slower than each bound
 * (`boundsInUnit`, already in the templates' latency unit), over `windowMs`.
 */
export function renderCountQueries(
  templates: PromQueryTemplates,
  query: Pick<MeasureQuery, 'service' | 'version' | 'role'>,
  windowMs: number,
  boundsInUnit: readonly number[],
): { requests: string; errors: string; buckets: string[] } {
  const rendered = renderQueries(templates, query, windowMs);
  const values = {
    ...labelValues(query),
    selector: renderSelector(templates, query),
    window: promDuration(windowMs),
  };
  return {
    requests: rendered.requests,
    errors: rendered.errors,
    buckets: boundsInUnit.map((le) =>
      fill(templates.bucket, { ...values, le: String(le), leRe: boundRegex(le) }),
    ),
  };
}

/**
 * A bucket bound as a PromQL regex (escaped for a double-quoted string) matching the ways it is
 * written: `0.3` and `0.30`, `1` and `1.0`. Anchored by Prometheus.
 */
export function boundRegex(le: number): string {
  const [whole, fraction] = String(le).split('.');
  return fraction === undefined ? `${whole}(\\\\.0+)?` : `${whole}\\\\.${fraction}0*`;
}
