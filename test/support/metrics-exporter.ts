import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A test exporter: an HTTP `/metrics` endpoint serving, per service and version, the series the
 * `prometheus` provider's default templates read (`http_requests_total{service,version,code}` and
 * `http_request_duration_seconds_bucket{service,version,le}`). Counters grow linearly in time at
 * the traffic set for each version, so over any window Prometheus sees known values: requests
 * at `rps`, a fraction `errorRatio` of them with code 500, latencies distributed as `latency`.
 */

/** Upper bounds (seconds) of the histogram's buckets, besides +Inf. */
export const BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;

export interface VersionTraffic {
  /** Requests per second. */
  rps: number;
  /** Fraction of requests answered 500. */
  errorRatio: number;
  /**
   * Cumulative fraction of requests at or below each bucket bound, e.g. `{ 0.05: 0.5, 0.1: 0.9,
   * 0.25: 1 }`; bounds left out carry the previous fraction, +Inf is 1.
   */
  latency: Partial<Record<(typeof BUCKETS)[number], number>>;
}

export interface MetricsExporter {
  /** `host:port`, a Prometheus scrape target. */
  readonly target: string;
  /** Sets (or changes from now on) the traffic of one version; counters carry on from where they are. */
  set(service: string, version: string, traffic: VersionTraffic): void;
  /** Stops a version's counters growing (its series stay, as a stopped pod's would until it goes). */
  idle(service: string, version: string): void;
  /** How many times `/metrics` was scraped. */
  scrapes(): number;
  close(): Promise<void>;
}

interface Series {
  service: string;
  version: string;
  traffic: VersionTraffic | undefined;
  ok: number;
  failed: number;
  buckets: number[];
  sum: number;
  at: number;
}

export async function startMetricsExporter(): Promise<MetricsExporter> {
  const series = new Map<string, Series>();
  let scrapes = 0;

  const advance = (s: Series, now: number) => {
    const dt = (now - s.at) / 1000;
    s.at = now;
    if (s.traffic === undefined || dt <= 0) return;
    const requests = s.traffic.rps * dt;
    s.ok += requests * (1 - s.traffic.errorRatio);
    s.failed += requests * s.traffic.errorRatio;
    const cumulative = cumulativeFractions(s.traffic);
    cumulative.forEach((fraction, i) => (s.buckets[i]! += requests * fraction));
    // The sum only feeds averages nobody here reads; bucket bounds are a fair stand-in.
    s.sum += requests * 0.1;
  };

  const server: Server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    scrapes++;
    const now = Date.now();
    const lines = [
      '# HELP http_requests_total Requests served.',
      '# TYPE http_requests_total counter',
    ];
    const histogram = [
      '# HELP http_request_duration_seconds Request latency.',
      '# TYPE http_request_duration_seconds histogram',
    ];
    for (const s of series.values()) {
      advance(s, now);
      const labels = `service="${s.service}",version="${s.version}"`;
      lines.push(`http_requests_total{${labels},code="200"} ${s.ok}`);
      lines.push(`http_requests_total{${labels},code="500"} ${s.failed}`);
      // Whole bounds as `1.0`, the way the Python client writes them (and Prometheus 3 stores
      // every `le`): a query must match a bound by value, not by its text.
      BUCKETS.forEach((le, i) =>
        histogram.push(
          `http_request_duration_seconds_bucket{${labels},le="${Number.isInteger(le) ? le.toFixed(1) : le}"} ${s.buckets[i]}`,
        ),
      );
      const total = s.ok + s.failed;
      histogram.push(`http_request_duration_seconds_bucket{${labels},le="+Inf"} ${total}`);
      histogram.push(`http_request_duration_seconds_sum{${labels}} ${s.sum}`);
      histogram.push(`http_request_duration_seconds_count{${labels}} ${total}`);
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end([...lines, ...histogram, ''].join('\n'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const target = `127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    target,
    set(service, version, traffic) {
      const key = `${service}\u0000${version}`;
      const now = Date.now();
      const existing = series.get(key);
      if (existing) {
        advance(existing, now);
        existing.traffic = traffic;
        return;
      }
      series.set(key, {
        service,
        version,
        traffic,
        ok: 0,
        failed: 0,
        buckets: BUCKETS.map(() => 0),
        sum: 0,
        at: now,
      });
    },
    idle(service, version) {
      const s = series.get(`${service}\u0000${version}`);
      if (!s) return;
      advance(s, Date.now());
      s.traffic = undefined;
    },
    scrapes: () => scrapes,
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** The cumulative fraction at each of `BUCKETS`. */
export function cumulativeFractions(traffic: VersionTraffic): number[] {
  let carried = 0;
  return BUCKETS.map((le) => (carried = traffic.latency[le] ?? carried));
}

/**
 * What Prometheus' `histogram_quantile(q, …)` gives for a version's latency distribution, in ms:
 * linear interpolation inside the bucket where the q-th request falls (the first bucket starts
 * at 0). The expected value tests compare with.
 */
export function expectedQuantileMs(traffic: VersionTraffic, q: number): number {
  const cumulative = cumulativeFractions(traffic);
  let lower = 0;
  let below = 0;
  for (let i = 0; i < BUCKETS.length; i++) {
    const upper = BUCKETS[i]!;
    const at = cumulative[i]!;
    if (at >= q) return 1000 * (lower + ((upper - lower) * (q - below)) / (at - below));
    lower = upper;
    below = at;
  }
  // In the +Inf bucket: Prometheus answers the highest finite bound.
  return 1000 * BUCKETS[BUCKETS.length - 1]!;
}

/** A healthy version: 20 rps, 1% errors, most requests under 50 ms. */
export const HEALTHY: VersionTraffic = {
  rps: 20,
  errorRatio: 0.01,
  latency: { 0.025: 0.2, 0.05: 0.6, 0.1: 0.9, 0.25: 0.98, 0.5: 1 },
};
