import type { CountedInterval } from '../../shared/contracts/counted-interval.js';
import type { Measurement } from '../../shared/contracts/events.js';
import {
  PromQueryTemplates,
  type ServicePromQueries,
} from '../../shared/config/prometheus-queries.js';
import { ConfigError } from '../../shared/errors.js';
import type { MeasureQuery, MetricsProvider } from './metrics-provider.js';
import {
  assemble,
  single,
  unavailable,
  type Answer,
  type PromResponse,
  type Series,
} from './prometheus-answers.js';
import {
  renderCountQueries,
  renderQueries,
  renderSelector,
  type RenderedQueries,
} from './promql-templates.js';

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
  /**
   * Told after each `measure` or `measureAll` how many calls it made to Prometheus (the agent
   * counts them on its /metrics).
   */
  onBatch?: (queries: number) => void;
}

type TemplateField = 'selector' | 'requests' | 'errors' | 'latency' | 'bucket';

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
    const tally = { queries: 0 };
    try {
      return await this.measureOne(query, tally);
    } finally {
      this.options.onBatch?.(tally.queries);
    }
  }

  /**
   * Every query's measurement with one Prometheus query per metric (requests, errors, p50, p95,
   * p99, and one for all interval counts) for the whole batch, instead of five or six per query:
   * each query's own PromQL (from its service's templates) is tagged with a label naming it and
   * the tagged results are joined with `or`, so Prometheus answers all of them at one instant in
   * one call. Batches above `MAX_PARTS_PER_QUERY` measurements are sent in chunks. If Prometheus
   * refuses a joined query (one service's template returns a scalar, say), that chunk is measured
   * query by query, so one bad template does not cost the other services their samples.
   */
  async measureAll(queries: readonly MeasureQuery[]): Promise<Measurement[]> {
    const tally = { queries: 0 };
    try {
      const chunks: MeasureQuery[][] = [];
      for (let i = 0; i < queries.length; i += MAX_PARTS_PER_QUERY) {
        chunks.push(queries.slice(i, i + MAX_PARTS_PER_QUERY));
      }
      const measured = await Promise.all(chunks.map((chunk) => this.measureChunk(chunk, tally)));
      return measured.flat();
    } finally {
      this.options.onBatch?.(tally.queries);
    }
  }

  private async measureOne(query: MeasureQuery, tally: Tally): Promise<Measurement> {
    try {
      const prepared = this.prepare(query);
      if ('status' in prepared) return prepared;
      const { templates, windowMs, rendered } = prepared;
      const time = this.now() / 1000;
      const [requests, errors, p50, p95, p99] = await Promise.all(
        [
          rendered.requests,
          rendered.errors,
          rendered.latency.p50,
          rendered.latency.p95,
          rendered.latency.p99,
        ].map((promql) => this.instant(promql, time, tally)),
      );
      const measured = assemble(query, templates, windowMs, [requests!, errors!, p50!, p95!, p99!]);
      if (measured.status !== 'ok' || !query.counts) return measured;
      const due = this.countsDue(templates, query, windowMs);
      if (due === undefined) return measured;
      const answers = await Promise.all(
        due.promqls.map((promql) => this.instant(promql, due.toMs / 1000, tally)),
      );
      const counts = this.countsFrom(due, answers);
      return counts ? { ...measured, counts } : measured;
    } catch (err) {
      // The port never rejects: a gate must see "unavailable", not an exception.
      return unavailable(`prometheus metrics failed: ${(err as Error).message}`);
    }
  }

  private async measureChunk(queries: MeasureQuery[], tally: Tally): Promise<Measurement[]> {
    if (queries.length === 1) return [await this.measureOne(queries[0]!, tally)];
    try {
      const prepared = queries.map((query) => this.prepare(query));
      const time = this.now() / 1000;
      const live = prepared.flatMap((p, i) => ('status' in p ? [] : [{ ...p, key: String(i) }]));
      const metrics: ((r: RenderedQueries) => string)[] = [
        (r) => r.requests,
        (r) => r.errors,
        (r) => r.latency.p50,
        (r) => r.latency.p95,
        (r) => r.latency.p99,
      ];
      const answered = await Promise.all(
        metrics.map((metric) =>
          this.instantEach(
            live.map((p) => ({ key: p.key, promql: metric(p.rendered) })),
            time,
            tally,
          ),
        ),
      );
      if (answered.some((a) => a === 'refused')) {
        return Promise.all(queries.map((query) => this.measureOne(query, tally)));
      }
      const byKey = answered as Map<string, Answer>[];
      const measured = prepared.map((p, i): Measurement => {
        if ('status' in p) return p;
        const answers = byKey.map((m) => m.get(String(i))!);
        return assemble(queries[i]!, p.templates, p.windowMs, answers);
      });
      return await this.attachCounts(queries, prepared, measured, tally);
    } catch (err) {
      const reason = `prometheus metrics failed: ${(err as Error).message}`;
      return queries.map(() => unavailable(reason));
    }
  }

  /** Adds each due interval's counts to the ok measurements that asked, one call per instant. */
  private async attachCounts(
    queries: MeasureQuery[],
    prepared: (Prepared | Measurement)[],
    measured: Measurement[],
    tally: Tally,
  ): Promise<Measurement[]> {
    const due = new Map<number, CountsDue>();
    measured.forEach((m, i) => {
      const p = prepared[i]!;
      if (m.status !== 'ok' || !queries[i]!.counts || 'status' in p) return;
      const counts = this.countsDue(p.templates, queries[i]!, p.windowMs);
      if (counts) due.set(i, counts);
    });
    const byTime = new Map<number, number[]>();
    for (const [i, counts] of due) byTime.set(counts.toMs, [...(byTime.get(counts.toMs) ?? []), i]);
    const result = [...measured];
    await Promise.all(
      [...byTime].map(async ([toMs, indices]) => {
        const parts = indices.flatMap((i) =>
          due.get(i)!.promqls.map((promql, j) => ({ key: `${i}.${j}`, promql })),
        );
        const answers = await this.instantEach(parts, toMs / 1000, tally);
        for (const i of indices) {
          const counts =
            answers === 'refused'
              ? undefined
              : this.countsFrom(
                  due.get(i)!,
                  due.get(i)!.promqls.map((_, j) => answers.get(`${i}.${j}`)!),
                );
          const m = result[i]!;
          if (counts && m.status === 'ok') result[i] = { ...m, counts };
        }
      }),
    );
    return result;
  }

  /** A query's templates, window and rendered PromQL, or why it cannot be measured at all. */
  private prepare(query: MeasureQuery): Prepared | Measurement {
    if (!(Number.isFinite(query.windowMs) && query.windowMs > 0)) {
      return unavailable(`window must be a positive number of ms, got ${query.windowMs}`);
    }
    const templates = this.templatesOf(query.service);
    const windowMs = Math.max(query.windowMs, this.minWindowMs);
    return { templates, windowMs, rendered: renderQueries(templates, query, windowMs) };
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
   * the measurement itself is unaffected. This returns the interval's queries, or undefined when
   * its interval was reported already; `countsFrom` turns their answers into counts.
   */
  private countsDue(
    templates: PromQueryTemplates,
    query: MeasureQuery,
    windowMs: number,
  ): CountsDue | undefined {
    const key = `${query.service}\u0000${query.version}\u0000${query.role}`;
    const toMs = Math.floor(this.now() / windowMs) * windowMs;
    if ((this.countedUntil.get(key) ?? -Infinity) >= toMs) return undefined;
    const bounds = query.counts?.slowBoundsMs ?? [];
    const scale = templates.latencyUnit === 'seconds' ? 1000 : 1;
    const rendered = renderCountQueries(
      templates,
      query,
      windowMs,
      bounds.map((ms) => ms / scale),
    );
    return {
      key,
      toMs,
      windowMs,
      bounds,
      promqls: [rendered.requests, rendered.errors, ...rendered.buckets],
    };
  }

  /** The interval's counts from the answers to `due.promqls`; undefined if any failed. */
  private countsFrom(due: CountsDue, answers: Answer[]): CountedInterval | undefined {
    if (answers.some((a) => 'problem' in a || !Number.isFinite(a.value) || a.value < 0)) {
      return undefined;
    }
    const [requests, errors, ...buckets] = answers.map((a) =>
      Math.round((a as { value: number }).value),
    );
    this.countedUntil.set(due.key, due.toMs);
    const slow = due.bounds.map((boundMs, i) => ({
      boundMs,
      count: Math.min(requests!, Math.max(0, requests! - buckets[i]!)),
    }));
    return {
      fromMs: due.toMs - due.windowMs,
      toMs: due.toMs,
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
        const answer = await this.instant(promql, time, undefined, { emptyIsFine: true });
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
    tally: Tally | undefined,
    options: { emptyIsFine?: boolean } = {},
  ): Promise<Answer> {
    const answered = await this.query(promql, time, tally);
    if ('problem' in answered) return answered;
    const { resultType, result } = answered;
    if (resultType === 'scalar') return { value: Number((result as [number, string])[1]) };
    if (resultType !== 'vector') {
      return {
        problem: `the query returns a ${resultType}, not a number: ${promql}`,
        cause: 'query',
      };
    }
    return single(result as Series[], promql, options);
  }

  /**
   * Several instant queries in one call, each answered by its key: every part tagged with a
   * `rollout_sample` label and joined with `or`. A part with no series gets a "no data" answer
   * naming its own PromQL. `'refused'` when Prometheus refused the joined query (some part is
   * not a vector, or a template does not parse): the caller then asks part by part.
   */
  private async instantEach(
    parts: { key: string; promql: string }[],
    time: number,
    tally: Tally,
  ): Promise<Map<string, Answer> | 'refused'> {
    const answers = new Map<string, Answer>();
    if (parts.length === 0) return answers;
    const joined = parts
      .map(({ key, promql }) => `label_replace((${promql}), "${KEY_LABEL}", "${key}", "", "")`)
      .join(' or ');
    const answered = await this.query(joined, time, tally);
    if ('problem' in answered) {
      if (answered.cause === 'query') return 'refused';
      for (const { key } of parts) answers.set(key, answered);
      return answers;
    }
    if (answered.resultType !== 'vector') return 'refused';
    const byKey = new Map<string, Series[]>();
    for (const series of answered.result as Series[]) {
      const key = series.metric?.[KEY_LABEL] ?? '';
      byKey.set(key, [...(byKey.get(key) ?? []), series]);
    }
    for (const { key, promql } of parts) answers.set(key, single(byKey.get(key) ?? [], promql));
    return answers;
  }

  /** One POST to `/api/v1/query`: its data, or why there is none and whose fault that is. */
  private async query(
    promql: string,
    time: number,
    tally: Tally | undefined,
  ): Promise<{ resultType: string; result: unknown } | Extract<Answer, { problem: string }>> {
    if (tally) tally.queries++;
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
    return body.data;
  }
}

/** The label that tells apart the parts of a joined query (`instantEach`). */
const KEY_LABEL = 'rollout_sample';

/**
 * Most measurements one joined query carries: 250 rollouts' canary and stable. A larger batch
 * takes a call per metric per chunk; the query text stays in the hundreds of KB.
 */
export const MAX_PARTS_PER_QUERY = 500;

/** Calls made to Prometheus, counted for `onBatch`. */
interface Tally {
  queries: number;
}

interface Prepared {
  templates: PromQueryTemplates;
  windowMs: number;
  rendered: RenderedQueries;
}

interface CountsDue {
  /** Whose interval this is (service, version, role), for `countedUntil`. */
  key: string;
  toMs: number;
  windowMs: number;
  bounds: readonly number[];
  /** Requests, errors, then one bucket query per bound. */
  promqls: string[];
}
