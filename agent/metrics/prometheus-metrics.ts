import type { CountedInterval } from '../../shared/contracts/counted-interval.js';
import type { Measurement } from '../../shared/contracts/events.js';
import {
  PromQueryTemplates,
  type ServicePromQueries,
} from '../../shared/config/prometheus-queries.js';
import { ConfigError } from '../../shared/errors.js';
import type { MeasureQuery, MetricsProvider } from './metrics-provider.js';
import { renderCountQueries, renderQueries, renderSelector } from './promql-templates.js';

export interface PrometheusMetricsOptions {
  /** Prometheus' base URL (`PROMETHEUS_URL`), e.g. `http://prometheus.monitoring:9090`. */
  url: string;
  /** The policy's `prometheus.queries` (defaults when the policy has none). */
  queries?: PromQueryTemplates;
  /** The policy's `services.<name>.prometheus`: per-service overrides, field by field. */
  services?: Record<string, ServicePromQueries | undefined>;
  /** The shortest `$window` a query uses. Default 30 s. */
  minWindowMs?: number;
  /** How long one query may take. Default 5 s. */
  timeoutMs?: number;
  /** The evaluation time of a measurement's queries, in ms. Default `Date.now`. */
  now?: () => number;
}

type TemplateField = 'selector' | 'requests' | 'errors' | 'latency' | 'bucket';

/**
 * One query's answer: a number, or why there is none, and whose fault that is: Prometheus
 * itself (unreachable, not Prometheus at that URL) or the query (refused, wrong shape).
 */
type Answer = { value: number } | { problem: string; cause: 'prometheus' | 'query' };

/**
 * A `MetricsProvider` over Prometheus' HTTP API (`POST /api/v1/query`): requests, errors and the
 * p50/p95/p99 latency of one version over a window, from the policy's PromQL templates. The
 * queries of one measurement are evaluated at the same instant, so they describe the same
 * window. Never rejects: Prometheus unreachable or refusing a query, an empty result, NaN or
 * infinity all come back as `{ status: 'unavailable', reason }`, never as a zero.
 */
export class PrometheusMetrics implements MetricsProvider {
  private readonly base: URL;
  private readonly defaults: PromQueryTemplates;
  private readonly minWindowMs: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  /** Per service/version/role: the end (ms) of the last interval whose counts were reported. */
  private readonly countedUntil = new Map<string, number>();

  /** Throws `ConfigError('PROMETHEUS_URL')` for a URL that is not http(s) without query or fragment. */
  constructor(private readonly options: PrometheusMetricsOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new ConfigError(
        'PROMETHEUS_URL',
        `${JSON.stringify(options.url)} is not a URL; expected e.g. http://prometheus:9090`,
      );
    }
    if (!/^https?:$/.test(url.protocol) || url.search !== '' || url.hash !== '') {
      throw new ConfigError(
        'PROMETHEUS_URL',
        `${JSON.stringify(options.url)}: expected an http:// or https:// base URL without query or fragment, e.g. http://prometheus:9090`,
      );
    }
    this.base = new URL(url.pathname.endsWith('/') ? url.href : `${url.href}/`);
    this.defaults = options.queries ?? PromQueryTemplates.parse({});
    this.minWindowMs = options.minWindowMs ?? 30_000;
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.now = options.now ?? Date.now;
  }

  async measure(query: MeasureQuery): Promise<Measurement> {
    try {
      if (!(Number.isFinite(query.windowMs) && query.windowMs > 0)) {
        return unavailable(`window must be a positive number of ms, got ${query.windowMs}`);
      }
      const templates = this.templatesOf(query.service);
      const windowMs = Math.max(query.windowMs, this.minWindowMs);
      const rendered = renderQueries(templates, query, windowMs);
      const time = this.now() / 1000;
      const what = `${query.service} ${query.version} (${query.role})`;
      const [requests, errors, p50, p95, p99] = await Promise.all([
        this.instant(rendered.requests, time),
        this.instant(rendered.errors, time),
        this.instant(rendered.latency.p50, time),
        this.instant(rendered.latency.p95, time),
        this.instant(rendered.latency.p99, time),
      ]);
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
      const counts = query.counts
        ? await this.counts(templates, query, windowMs, scale)
        : undefined;
      return {
        status: 'ok',
        requests: total,
        // Two increase() results are extrapolated separately and can disagree by a fraction.
        errors: Math.min(Math.round(value(errors)), total),
        latencyMs: { p50: latency.p50 * scale, p95: latency.p95 * scale, p99: latency.p99 * scale },
        ...(counts ? { counts } : {}),
      };
    } catch (err) {
      // The port never rejects: a gate must see "unavailable", not an exception.
      return unavailable(`prometheus metrics failed: ${(err as Error).message}`);
    }
  }

  /**
   * Counts of the last whole interval of the grid (k·Δ − Δ, k·Δ], Δ = the window: requests and
   * errors as `increase(...[Δ])`, slow requests as requests minus `increase(bucket{le}[Δ])`, all
   * evaluated at the grid instant k·Δ. Windowed queries overlap when evaluated at "now" every few
   * seconds; evaluated on a fixed grid whose step is their window they tile time instead, so the
   * counts of successive intervals never share a request. An interval is reported once (a sample
   * before the next grid instant carries no counts), and the bot also refuses an interval that
   * starts before the end of the last one it folded. `increase` extrapolates to the window's edges,
   * so counts are rounded and slow requests clamped to 0..requests. Any failed query: no counts,
   * the measurement itself is unaffected.
   */
  private async counts(
    templates: PromQueryTemplates,
    query: MeasureQuery,
    windowMs: number,
    scale: number,
  ): Promise<CountedInterval | undefined> {
    const key = `${query.service}\u0000${query.version}\u0000${query.role}`;
    const toMs = Math.floor(this.now() / windowMs) * windowMs;
    if ((this.countedUntil.get(key) ?? -Infinity) >= toMs) return undefined;
    const bounds = query.counts?.slowBoundsMs ?? [];
    const rendered = renderCountQueries(
      templates,
      query,
      windowMs,
      bounds.map((ms) => ms / scale),
    );
    const time = toMs / 1000;
    const answers = await Promise.all([
      this.instant(rendered.requests, time),
      this.instant(rendered.errors, time),
      ...rendered.buckets.map((q) => this.instant(q, time)),
    ]);
    if (answers.some((a) => 'problem' in a || !Number.isFinite(a.value) || a.value < 0)) {
      return undefined;
    }
    const [requests, errors, ...buckets] = answers.map((a) =>
      Math.round((a as { value: number }).value),
    );
    this.countedUntil.set(key, toMs);
    const slow = bounds.map((boundMs, i) => ({
      boundMs,
      count: Math.min(requests!, Math.max(0, requests! - buckets[i]!)),
    }));
    return {
      fromMs: toMs - windowMs,
      toMs,
      requests: requests!,
      errors: Math.min(errors!, requests!),
      ...(slow.length > 0 ? { slow } : {}),
    };
  }

  /**
   * Runs every template once for each service (as the stable `version`), so a template that does
   * not parse stops the agent at start. Throws `ConfigError` naming the policy field of the
   * template Prometheus refused, or `PROMETHEUS_URL` when Prometheus cannot be reached.
   */
  async verify(services: { service: string; version: string }[]): Promise<void> {
    const time = this.now() / 1000;
    for (const { service, version } of services) {
      const templates = this.templatesOf(service);
      const rendered = renderQueries(
        templates,
        { service, version, role: 'stable' },
        this.minWindowMs,
      );
      const selectorQuery = `count({${renderSelector(templates, { service, version, role: 'stable' })}})`;
      const checks: [TemplateField, string][] = [
        ['selector', selectorQuery],
        ['requests', rendered.requests],
        ['errors', rendered.errors],
        ['latency', rendered.latency.p99],
        // Parsed here even when no check counts slow requests: an empty answer is fine.
        [
          'bucket',
          renderCountQueries(
            templates,
            { service, version, role: 'stable' },
            this.minWindowMs,
            [0.3],
          ).buckets[0]!,
        ],
      ];
      for (const [field, promql] of checks) {
        const answer = await this.instant(promql, time, { emptyIsFine: true });
        if (!('problem' in answer)) continue;
        if (answer.cause === 'query') {
          throw new ConfigError(
            this.fieldOf(service, field),
            `Prometheus cannot run this template for ${service}: ${answer.problem}`,
          );
        }
        throw new ConfigError('PROMETHEUS_URL', answer.problem);
      }
    }
  }

  private templatesOf(service: string): PromQueryTemplates {
    const overrides = this.options.services?.[service] ?? {};
    return {
      ...this.defaults,
      ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)),
    };
  }

  private fieldOf(service: string, field: TemplateField): string {
    return this.options.services?.[service]?.[field] !== undefined
      ? `services.${service}.prometheus.${field}`
      : `prometheus.queries.${field}`;
  }

  /** One instant query; a single number, or the reason there is none. */
  private async instant(
    promql: string,
    time: number,
    options: { emptyIsFine?: boolean } = {},
  ): Promise<Answer> {
    let response: Response;
    try {
      response = await fetch(new URL('api/v1/query', this.base), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ query: promql, time: time.toFixed(3) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why =
        (err as Error).name === 'TimeoutError'
          ? `no answer in ${this.timeoutMs} ms`
          : (cause?.code ?? cause?.message ?? (err as Error).message);
      return {
        problem: `cannot reach Prometheus at ${this.base.href}: ${why}`,
        cause: 'prometheus',
      };
    }
    let body: PromResponse;
    try {
      body = (await response.json()) as PromResponse;
    } catch {
      return {
        problem: `Prometheus at ${this.base.href} answered ${response.status} without JSON (is PROMETHEUS_URL Prometheus' base URL?)`,
        cause: 'prometheus',
      };
    }
    if (body.status !== 'success' || body.data === undefined) {
      return {
        problem: `Prometheus refused the query (${body.errorType ?? response.status}: ${body.error ?? 'no reason given'}): ${promql}`,
        cause: 'query',
      };
    }
    const { resultType, result } = body.data;
    if (resultType === 'scalar') return { value: Number((result as [number, string])[1]) };
    if (resultType !== 'vector') {
      return {
        problem: `the query returns a ${resultType}, not a number: ${promql}`,
        cause: 'query',
      };
    }
    const series = result as { value: [number, string] }[];
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
}

interface PromResponse {
  status: 'success' | 'error';
  errorType?: string;
  error?: string;
  data?: { resultType: string; result: unknown };
}

function unavailable(reason: string): Measurement {
  return { status: 'unavailable', reason };
}
