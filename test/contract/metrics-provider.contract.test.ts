/**
 * The MetricsProvider contract, run against every provider. An adapter joins by adding a fixture
 * to `providers`: a provider over a backend where `live` versions receive traffic, a query for a
 * service nobody knows, and a provider whose backend cannot answer.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Measurement } from '../../shared/contracts/events.js';
import type { MeasureQuery, MetricsProvider } from '../../agent/metrics/metrics-provider.js';
import { PrometheusMetrics } from '../../agent/metrics/prometheus-metrics.js';
import { SimulatedMetrics } from '../../agent/metrics/simulated-metrics.js';
import { SimulatedRouter } from '../../agent/routers/simulated-router.js';
import { SimulatedCluster } from '../../agent/simulation/simulated-cluster.js';
import {
  HEALTHY,
  startMetricsExporter,
  type MetricsExporter,
} from '../support/metrics-exporter.js';
import { startPrometheus, type PrometheusServer } from '../support/prometheus-server.js';
import { waitFor } from '../support/wait-for.js';

interface MetricsFixture {
  provider: MetricsProvider;
  /** Queries for versions that receive traffic in the fixture's backend. */
  live: MeasureQuery[];
  /** A query about a service the backend knows nothing of. */
  unknown: MeasureQuery;
  /** A provider whose backend cannot answer (down, unreachable). */
  unavailable: MetricsProvider;
  close(): Promise<void>;
}

const providers: { name: string; create(): Promise<MetricsFixture> }[] = [
  {
    name: 'simulated',
    async create() {
      const cluster = new SimulatedCluster({
        name: 'contract',
        services: { checkout: { stableVersion: '2.4.0' } },
        seed: 3,
      });
      await new SimulatedRouter(cluster).setWeight(
        { service: 'checkout', stableVersion: '2.4.0', canaryVersion: '2.4.1', strategy: 'canary' },
        25,
        { rolloutId: 'rollout-contract', seq: 1, stageIndex: 0, strategy: 'canary' },
      );
      const down = new SimulatedCluster({
        name: 'contract-down',
        services: { checkout: { stableVersion: '2.4.0' } },
        faults: [{ metricsUnavailable: true }],
      });
      const windowMs = 30_000;
      return {
        provider: new SimulatedMetrics(cluster),
        live: [
          { service: 'checkout', version: '2.4.1', role: 'canary', windowMs },
          { service: 'checkout', version: '2.4.0', role: 'stable', windowMs },
        ],
        unknown: { service: 'no-such-service', version: '1.0.0', role: 'canary', windowMs },
        unavailable: new SimulatedMetrics(down),
        close: async () => {},
      };
    },
  },
];

/**
 * One real Prometheus (Debian's package) scraping one test exporter, shared by the prometheus
 * fixture's tests: started on first use, stopped after the suite.
 */
let prometheusStack:
  Promise<{ prometheus: PrometheusServer; exporter: MetricsExporter }> | undefined;
function sharedPrometheus() {
  return (prometheusStack ??= (async () => {
    const exporter = await startMetricsExporter();
    exporter.set('checkout', '2.4.0', HEALTHY);
    exporter.set('checkout', '2.4.1', { ...HEALTHY, rps: 5, errorRatio: 0.05 });
    const prometheus = await startPrometheus({ targets: [exporter.target], scrapeIntervalMs: 500 });
    return { prometheus, exporter };
  })());
}
afterAll(async () => {
  if (prometheusStack === undefined) return;
  const { prometheus, exporter } = await prometheusStack;
  await prometheus.stop();
  await exporter.close();
});

providers.push({
  name: 'prometheus',
  async create() {
    const { prometheus } = await sharedPrometheus();
    const windowMs = 5_000;
    const provider = new PrometheusMetrics({ url: prometheus.url, minWindowMs: 0 });
    const live: MeasureQuery[] = [
      { service: 'checkout', version: '2.4.1', role: 'canary', windowMs },
      { service: 'checkout', version: '2.4.0', role: 'stable', windowMs },
    ];
    // Until Prometheus has scraped enough for rate() over the window.
    await waitFor(
      async () =>
        (await Promise.all(live.map((q) => provider.measure(q)))).every((m) => m.status === 'ok'),
      { what: 'Prometheus to have data for both versions', timeoutMs: 30_000, intervalMs: 200 },
    );
    return {
      provider,
      live,
      unknown: { service: 'no-such-service', version: '1.0.0', role: 'canary', windowMs },
      unavailable: new PrometheusMetrics({ url: 'http://127.0.0.1:1', minWindowMs: 0 }),
      close: async () => {},
    };
  },
});

describe.each(providers)('MetricsProvider contract: $name', ({ create }) => {
  let fx: MetricsFixture;
  beforeEach(async () => {
    fx = await create();
  });
  afterEach(() => fx.close());

  it('measures a version with traffic: ok, with requests', async () => {
    for (const query of fx.live) {
      const m = Measurement.parse(await fx.provider.measure(query));
      expect(m).toMatchObject({ status: 'ok' });
      if (m.status === 'ok') expect(m.requests).toBeGreaterThan(0);
    }
  });

  it('keeps its numbers consistent: errors ≤ requests, p50 ≤ p95 ≤ p99', async () => {
    for (let i = 0; i < 25; i++) {
      for (const query of fx.live) {
        const m = Measurement.parse(await fx.provider.measure(query));
        if (m.status !== 'ok') continue;
        expect(m.errors).toBeLessThanOrEqual(m.requests);
        expect(m.latencyMs.p50).toBeLessThanOrEqual(m.latencyMs.p95);
        expect(m.latencyMs.p95).toBeLessThanOrEqual(m.latencyMs.p99);
      }
    }
  });

  it('reports a backend that cannot answer as unavailable, with a reason', async () => {
    const m = Measurement.parse(await fx.unavailable.measure(fx.live[0]!));
    expect(m.status).toBe('unavailable');
    if (m.status === 'unavailable') expect(m.reason.length).toBeGreaterThan(0);
  });

  it('reports a service it knows nothing of as unavailable, never as a fake zero', async () => {
    expect(Measurement.parse(await fx.provider.measure(fx.unknown)).status).toBe('unavailable');
  });

  it('measures a whole round at once: one measurement per query, in order, a bad query costing the others nothing', async () => {
    const round = [...fx.live, fx.unknown, { ...fx.live[0]!, windowMs: 0 }, ...fx.live];
    const measured = await fx.provider.measureAll(round);
    expect(measured).toHaveLength(round.length);
    const parsed = measured.map((m) => Measurement.parse(m));
    for (const i of [0, 1, 4, 5]) {
      const m = parsed[i]!;
      expect(m).toMatchObject({ status: 'ok' });
      if (m.status === 'ok') expect(m.requests).toBeGreaterThan(0);
    }
    expect(parsed[2]!.status).toBe('unavailable');
    expect(parsed[3]!.status).toBe('unavailable');
    // Each measurement is its own query's: the canary (less traffic) is not swapped with the stable.
    const requests = (m: Measurement) => (m.status === 'ok' ? m.requests : Number.NaN);
    expect(requests(parsed[0]!)).toBeLessThan(requests(parsed[1]!));
    expect(await fx.provider.measureAll([])).toEqual([]);
  });

  it('reports a whole round unavailable when the backend cannot answer, without rejecting', async () => {
    const measured = await fx.unavailable.measureAll(fx.live);
    expect(measured.map((m) => Measurement.parse(m).status)).toEqual(
      fx.live.map(() => 'unavailable'),
    );
  });

  it('never rejects, even on nonsense queries', async () => {
    const nonsense: MeasureQuery[] = [
      { ...fx.live[0]!, windowMs: 0 },
      { ...fx.live[0]!, windowMs: Number.NaN },
      { ...fx.live[0]!, version: '' },
      { ...fx.unknown, service: '' },
    ];
    for (const query of nonsense) {
      const m = await fx.provider.measure(query);
      expect(Measurement.safeParse(m).success).toBe(true);
    }
    const m = await fx.unavailable.measure({ ...fx.live[0]!, windowMs: -5 });
    expect(Measurement.safeParse(m).success).toBe(true);
  });
});
