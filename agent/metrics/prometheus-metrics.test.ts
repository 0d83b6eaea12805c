/**
 * The `prometheus` provider against a real Prometheus (Debian's package) scraping a test exporter
 * whose series have known values.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Measurement } from '../../shared/contracts/events.js';
import { PromQueryTemplates } from '../../shared/config/prometheus-queries.js';
import { isRolloutError } from '../../shared/errors.js';
import {
  expectedQuantileMs,
  HEALTHY,
  startMetricsExporter,
  type MetricsExporter,
  type VersionTraffic,
} from '../../test/support/metrics-exporter.js';
import { startPrometheus, type PrometheusServer } from '../../test/support/prometheus-server.js';
import { waitFor } from '../../test/support/wait-for.js';
import type { MeasureQuery } from './metrics-provider.js';
import { PrometheusMetrics } from './prometheus-metrics.js';

const SLOW_AND_FAILING: VersionTraffic = {
  rps: 10,
  errorRatio: 0.25,
  latency: { 0.1: 0.3, 0.25: 0.7, 0.5: 0.9, 1: 0.96, 2.5: 1 },
};
const WINDOW_MS = 5_000;

describe('PrometheusMetrics on a real Prometheus', () => {
  let exporter: MetricsExporter;
  let prometheus: PrometheusServer;
  let provider: PrometheusMetrics;

  beforeAll(async () => {
    exporter = await startMetricsExporter();
    exporter.set('checkout', '2.4.0', HEALTHY);
    exporter.set('checkout', '2.4.1', SLOW_AND_FAILING);
    prometheus = await startPrometheus({ targets: [exporter.target], scrapeIntervalMs: 500 });
    provider = new PrometheusMetrics({ url: prometheus.url, minWindowMs: 0 });
    // Enough scrapes for rate() over the window.
    await waitFor(
      async () => {
        const m = await provider.measure({
          service: 'checkout',
          version: '2.4.1',
          role: 'canary',
          windowMs: WINDOW_MS,
        });
        return m.status === 'ok' && exporter.scrapes() >= 8;
      },
      { what: 'Prometheus to have scraped the exporter', timeoutMs: 30_000, intervalMs: 200 },
    );
  }, 60_000);
  afterAll(async () => {
    await prometheus?.stop();
    await exporter?.close();
  });

  it.each([
    ['stable', '2.4.0', HEALTHY],
    ['canary', '2.4.1', SLOW_AND_FAILING],
  ] as const)(
    'measures the %s version as the exporter serves it',
    async (role, version, traffic) => {
      const m = Measurement.parse(
        await provider.measure({ service: 'checkout', version, role, windowMs: WINDOW_MS }),
      );
      if (m.status !== 'ok') throw new Error(`expected ok, got ${m.reason}`);
      // increase() extrapolates to the window's edges: close to rps × window, not exact.
      expect(m.requests).toBeGreaterThan(traffic.rps * (WINDOW_MS / 1000) * 0.7);
      expect(m.requests).toBeLessThan(traffic.rps * (WINDOW_MS / 1000) * 1.3);
      // Both counters are scraped together and grow in proportion: the ratio is the exporter's.
      expect(m.errors / m.requests).toBeCloseTo(traffic.errorRatio, 1);
      expect(m.latencyMs.p50).toBeCloseTo(expectedQuantileMs(traffic, 0.5), 3);
      expect(m.latencyMs.p95).toBeCloseTo(expectedQuantileMs(traffic, 0.95), 3);
      expect(m.latencyMs.p99).toBeCloseTo(expectedQuantileMs(traffic, 0.99), 3);
    },
  );

  it('counts whole intervals of a fixed grid, once each, with slow requests from the buckets', async () => {
    const query = {
      service: 'checkout',
      version: '2.4.1',
      role: 'canary',
      windowMs: WINDOW_MS,
      // 1,000 ms is the exporter's `le="1.0"` bucket: matched by value, not by text.
      counts: { slowBoundsMs: [250, 1000] },
    } as const;
    // Its own provider, so the suite's other measurements do not use up the interval.
    const counting = new PrometheusMetrics({ url: prometheus.url, minWindowMs: 0 });
    // The first grid interval the series fully covers may still be ahead: no counts until then.
    let m: Measurement | undefined;
    await waitFor(
      async () => {
        m = Measurement.parse(await counting.measure(query));
        return m.status === 'ok' && m.counts !== undefined;
      },
      { what: 'a counted interval', timeoutMs: 20_000, intervalMs: 250 },
    );
    if (m?.status !== 'ok' || m.counts === undefined) throw new Error('expected counts');
    const { counts } = m;
    expect(counts.toMs % WINDOW_MS).toBe(0);
    expect(counts.toMs - counts.fromMs).toBe(WINDOW_MS);
    // At most rps × window (less while the series is younger than the interval).
    expect(counts.requests).toBeGreaterThan(0);
    expect(counts.requests).toBeLessThan(SLOW_AND_FAILING.rps * (WINDOW_MS / 1000) * 1.3);
    expect(counts.errors / counts.requests).toBeCloseTo(SLOW_AND_FAILING.errorRatio, 1);
    // 70% of SLOW_AND_FAILING's requests take at most 250 ms: 30% are slow.
    expect(counts.slow![0]!.count / counts.requests).toBeCloseTo(0.3, 1);
    expect(counts.slow![1]).toMatchObject({ boundMs: 1000 });
    expect(counts.slow![1]!.count).toBeLessThanOrEqual(counts.slow![0]!.count);
    // The same grid interval is never reported twice.
    const again = await counting.measure(query);
    if (again.status !== 'ok') throw new Error('expected ok');
    if (again.counts) expect(again.counts.fromMs).toBeGreaterThanOrEqual(counts.toMs);
  });

  it('reports a version with no series as unavailable, naming the query', async () => {
    const m = await provider.measure({
      service: 'checkout',
      version: '9.9.9',
      role: 'canary',
      windowMs: WINDOW_MS,
    });
    expect(m).toMatchObject({ status: 'unavailable' });
    if (m.status === 'unavailable') {
      expect(m.reason).toContain('requests of checkout 9.9.9 (canary): no data');
      expect(m.reason).toContain('version="9.9.9"');
    }
  });

  it('reports NaN latency (no requests in the window) as unavailable, never as zero', async () => {
    exporter.set('checkout', '3.0.0', HEALTHY);
    await waitFor(
      async () =>
        (
          await provider.measure({
            service: 'checkout',
            version: '3.0.0',
            role: 'canary',
            windowMs: WINDOW_MS,
          })
        ).status === 'ok',
      { what: 'the new version to be scraped', timeoutMs: 20_000, intervalMs: 200 },
    );
    exporter.idle('checkout', '3.0.0');
    const m = await waitFor(
      async () => {
        const measured = await provider.measure({
          service: 'checkout',
          version: '3.0.0',
          role: 'canary',
          windowMs: 2_000,
        });
        return measured.status === 'unavailable' ? measured : undefined;
      },
      {
        what: 'the idle version to have no requests in the window',
        timeoutMs: 20_000,
        intervalMs: 200,
      },
    );
    expect(m.reason).toMatch(/latency p50 of checkout 3\.0\.0 \(canary\) is NaN/);
  });

  it('uses per-service templates with their placeholders', async () => {
    const custom = new PrometheusMetrics({
      url: prometheus.url,
      minWindowMs: 0,
      services: {
        checkout: {
          requests: 'sum(rate(http_requests_total{$selector}[$window])) * 0 + 42',
          latencyUnit: 'milliseconds',
        },
      },
    });
    const m = await custom.measure({
      service: 'checkout',
      version: '2.4.0',
      role: 'stable',
      windowMs: WINDOW_MS,
    });
    expect(m).toMatchObject({ status: 'ok', requests: 42 });
    if (m.status === 'ok') {
      // latencyUnit milliseconds: the histogram's seconds are taken as they are.
      expect(m.latencyMs.p50).toBeCloseTo(expectedQuantileMs(HEALTHY, 0.5) / 1000, 6);
    }
  });

  describe('measureAll: a whole sampling round', () => {
    /** Two providers evaluating at one instant: what one round measures, one by one or grouped. */
    function atOneInstant() {
      const now = Date.now() - 1_000;
      const calls: number[] = [];
      const options = { url: prometheus.url, minWindowMs: 0, now: () => now };
      return {
        grouped: new PrometheusMetrics({ ...options, onBatch: (n) => void calls.push(n) }),
        single: new PrometheusMetrics(options),
        calls,
      };
    }
    const canary: MeasureQuery = {
      service: 'checkout',
      version: '2.4.1',
      role: 'canary',
      windowMs: WINDOW_MS,
    };
    const stable: MeasureQuery = { ...canary, version: '2.4.0', role: 'stable' };

    it('makes one call per metric however many queries, with the numbers of one-by-one measuring, in order', async () => {
      const round = Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? canary : stable));
      const unknown = { ...canary, service: 'no-such-service' };
      const { grouped, single, calls } = atOneInstant();
      const measured = await grouped.measureAll([...round, unknown]);
      expect(calls).toEqual([5]);
      const expected = await Promise.all([canary, stable, unknown].map((q) => single.measure(q)));
      expect(expected[0]).toMatchObject({ status: 'ok' });
      expect(expected[1]).toMatchObject({ status: 'ok' });
      expect(measured).toHaveLength(31);
      round.forEach((query, i) => expect(measured[i]).toEqual(expected[query === canary ? 0 : 1]));
      expect(measured[30]).toMatchObject({ status: 'unavailable' });
      if (measured[30]?.status === 'unavailable') {
        expect(measured[30].reason).toMatch(
          /^requests of no-such-service 2\.4\.1 \(canary\): no data/,
        );
      }
    });

    it('adds the interval counts with one more call for all queries, equal to one-by-one counts', async () => {
      const { grouped, single, calls } = atOneInstant();
      const counts = { slowBoundsMs: [250, 1000] };
      const queries: MeasureQuery[] = [
        { ...canary, counts },
        { ...stable, counts },
      ];
      const measured = await grouped.measureAll(queries);
      expect(calls).toEqual([6]);
      for (const [i, query] of queries.entries()) {
        const one = await single.measure(query);
        if (one.status !== 'ok' || measured[i]?.status !== 'ok') throw new Error('expected ok');
        expect(one.counts).toBeDefined();
        expect(measured[i]).toEqual(one);
      }
      // Reported once per interval, as with measure.
      const again = await grouped.measureAll(queries);
      expect(again.every((m) => m.status === 'ok' && m.counts === undefined)).toBe(true);
    });

    it('falls back to one by one when Prometheus refuses the grouped query (a scalar template), so other services keep their samples', async () => {
      const now = Date.now() - 1_000;
      const custom = new PrometheusMetrics({
        url: prometheus.url,
        minWindowMs: 0,
        now: () => now,
        services: {
          checkout: { requests: 'scalar(sum(rate(http_requests_total[$window]))) * 0 + 42' },
        },
      });
      const measured = await custom.measureAll([
        stable,
        { ...stable, service: 'payments' },
        { ...stable, windowMs: 0 },
      ]);
      expect(measured[0]).toMatchObject({ status: 'ok', requests: 42 });
      expect(measured[1]).toMatchObject({ status: 'unavailable' });
      expect(measured[2]).toMatchObject({ status: 'unavailable' });
    });

    it('reports every query unavailable when Prometheus is down, and nothing for no queries', async () => {
      const down = new PrometheusMetrics({ url: 'http://127.0.0.1:1', minWindowMs: 0 });
      const measured = await down.measureAll([canary, stable]);
      expect(measured.map((m) => m.status)).toEqual(['unavailable', 'unavailable']);
      if (measured[0]?.status === 'unavailable') {
        expect(measured[0].reason).toMatch(/cannot reach Prometheus/);
      }
      expect(await down.measureAll([])).toEqual([]);
    });
  });

  it('reports a query returning several series as unavailable, asking for an aggregation', async () => {
    const custom = new PrometheusMetrics({
      url: prometheus.url,
      minWindowMs: 0,
      queries: PromQueryTemplates.parse({ requests: 'http_requests_total{$selector}' }),
    });
    const m = await custom.measure({
      service: 'checkout',
      version: '2.4.0',
      role: 'stable',
      windowMs: WINDOW_MS,
    });
    expect(m).toMatchObject({ status: 'unavailable' });
    if (m.status === 'unavailable') expect(m.reason).toContain('returned 2 series');
  });

  it('reports Prometheus down as unavailable', async () => {
    const down = new PrometheusMetrics({ url: 'http://127.0.0.1:1', minWindowMs: 0 });
    const m = await down.measure({
      service: 'checkout',
      version: '2.4.0',
      role: 'stable',
      windowMs: WINDOW_MS,
    });
    expect(m).toMatchObject({ status: 'unavailable' });
    if (m.status === 'unavailable') expect(m.reason).toContain('cannot reach Prometheus');
  });

  describe('verify (at the agent start)', () => {
    it('accepts the default templates', async () => {
      await expect(
        provider.verify([{ service: 'checkout', version: '2.4.0' }]),
      ).resolves.toBeUndefined();
    });

    it('refuses a template that does not parse, naming its policy field', async () => {
      const broken = new PrometheusMetrics({
        url: prometheus.url,
        services: { checkout: { errors: 'sum(increase(http_requests_total{$selector}[$window])' } },
      });
      const err = await broken
        .verify([{ service: 'checkout', version: '2.4.0' }])
        .catch((e: unknown) => e);
      expect(isRolloutError(err, 'invalid_config')).toBe(true);
      expect((err as Error).message).toMatch(/^services\.checkout\.prometheus\.errors: /);
      expect((err as Error).message).toContain('parse error');
    });

    it('refuses a bucket template that does not parse, naming its policy field', async () => {
      const broken = new PrometheusMetrics({
        url: prometheus.url,
        queries: PromQueryTemplates.parse({
          bucket: 'sum(increase(latency_bucket{le="$le"}[$window])',
        }),
      });
      const err = await broken
        .verify([{ service: 'checkout', version: '2.4.0' }])
        .catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/^prometheus\.queries\.bucket: /);
    });

    it('refuses a selector that does not parse, naming prometheus.queries.selector', async () => {
      const broken = new PrometheusMetrics({
        url: prometheus.url,
        queries: PromQueryTemplates.parse({ selector: 'service=$service' }),
      });
      const err = await broken
        .verify([{ service: 'checkout', version: '2.4.0' }])
        .catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/^prometheus\.queries\.selector: /);
    });

    it('refuses a template returning several series, naming its field', async () => {
      const broken = new PrometheusMetrics({
        url: prometheus.url,
        services: { checkout: { requests: 'http_requests_total{$selector}' } },
      });
      const err = await broken
        .verify([{ service: 'checkout', version: '2.4.0' }])
        .catch((e: unknown) => e);
      expect((err as Error).message).toMatch(
        /^services\.checkout\.prometheus\.requests: .*returned 2 series/,
      );
    });

    it('refuses an unreachable Prometheus, naming PROMETHEUS_URL', async () => {
      const down = new PrometheusMetrics({ url: 'http://127.0.0.1:1' });
      const err = await down
        .verify([{ service: 'checkout', version: '2.4.0' }])
        .catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/^PROMETHEUS_URL: cannot reach Prometheus/);
    });
  });

  it.each(['prometheus:9090', 'ftp://prometheus', 'http://prometheus:9090/?x=1', ''])(
    'refuses the URL %j at construction, naming PROMETHEUS_URL',
    (url) => {
      expect(() => new PrometheusMetrics({ url })).toThrow(/^PROMETHEUS_URL: /);
    },
  );
});
