import { Counter } from 'prom-client';
import type { Measurement } from '../../shared/contracts/events.js';
import type { SimulatedCluster } from '../simulation/simulated-cluster.js';
import { normalUpperTail } from '../../shared/judge/normal-tail.js';
import { binomial } from '../simulation/random.js';
import { simulateWindow, trafficShare, type TrafficProfile } from '../simulation/traffic-model.js';
import type { MeasureQuery, MetricsProvider } from './metrics-provider.js';

/**
 * Queries answered by every simulated metrics provider in this process: what a real cluster would
 * see as Prometheus queries, so the scale bench can count them per rollout. The agent's /metrics
 * registers it (`AgentEndpoints.include`); it shows no series before the first query.
 */
export const simulatedMetricsQueries = new Counter({
  name: 'agent_metrics_queries_total',
  help: 'Queries to the simulated metrics provider (a real cluster’s Prometheus queries).',
  labelNames: ['provider'] as const,
  registers: [],
});

/**
 * A `MetricsProvider` over a `SimulatedCluster`: requests follow the route's traffic split,
 * errors and latency the service's traffic profile plus the faults in force (see
 * `simulateWindow`). A service without a route, or an injected `metricsUnavailable`, is
 * reported `unavailable`; a version the route does not serve has zero requests.
 *
 * Asked for counts, it reports the window's own draws as the last whole interval of a grid whose
 * step is the window, (k·w − w, k·w], once per interval (like the Prometheus provider): every call
 * draws a fresh window, so successive samples never share a request, and the grid keeps a timer
 * that fires a little early from reporting intervals that look overlapping. Slow requests are drawn
 * from a log-normal latency fitted to the profile's p50 and p99, shifted by injected latency.
 */
export class SimulatedMetrics implements MetricsProvider {
  constructor(
    private readonly cluster: SimulatedCluster,
    private readonly now: () => number = Date.now,
  ) {}

  /** Per service/version/role: the end of the last interval whose counts were reported. */
  private readonly countedUntil = new Map<string, number>();

  async measure(query: MeasureQuery): Promise<Measurement> {
    simulatedMetricsQueries.inc({ provider: 'simulated' });
    try {
      if (!(Number.isFinite(query.windowMs) && query.windowMs > 0)) {
        return unavailable(`window must be a positive number of ms, got ${query.windowMs}`);
      }
      const route = this.cluster.route(query.service);
      if (route === undefined) {
        return unavailable(
          `no route for service ${query.service} in simulated cluster ${this.cluster.name}`,
        );
      }
      const effect = this.cluster.metricsEffect({
        service: query.service,
        version: query.version,
        role: query.role,
        stageIndex: route.stageIndex,
      });
      if (effect.metricsUnavailable) {
        return unavailable(
          `injected fault: metrics of ${query.service} ${query.version} (${query.role}) unavailable in simulated cluster ${this.cluster.name}`,
        );
      }
      const profile = this.cluster.trafficOf(query.service);
      const measured = simulateWindow({
        profile,
        share: trafficShare(route, query.version),
        windowMs: query.windowMs,
        effect,
        random: this.cluster.random,
      });
      if (query.counts === undefined || measured.status !== 'ok') return measured;
      const windowMs = Math.round(query.windowMs);
      const toMs = Math.floor(this.now() / windowMs) * windowMs;
      const key = `${query.service}\u0000${query.version}\u0000${query.role}`;
      if ((this.countedUntil.get(key) ?? -Infinity) >= toMs) return measured;
      this.countedUntil.set(key, toMs);
      const slow = query.counts.slowBoundsMs.map((boundMs) => ({
        boundMs,
        count: binomial(
          this.cluster.random,
          measured.requests,
          slowShare(profile, boundMs - effect.addedLatencyMs),
        ),
      }));
      return {
        ...measured,
        counts: {
          fromMs: Math.max(0, toMs - windowMs),
          toMs,
          requests: measured.requests,
          errors: measured.errors,
          ...(slow.length > 0 ? { slow } : {}),
        },
      };
    } catch (err) {
      // The port never rejects: a gate must see "unavailable", not an exception.
      return unavailable(`simulated metrics failed: ${(err as Error).message}`);
    }
  }
}

function unavailable(reason: string): Measurement {
  return { status: 'unavailable', reason };
}

/** P(latency > boundMs) for a log-normal through the profile's p50 and p99. */
export function slowShare(profile: TrafficProfile, boundMs: number): number {
  if (boundMs <= 0) return 1;
  const { p50, p99 } = profile.latencyMs;
  const sigma = Math.max(1e-6, Math.log(p99 / p50) / 2.3263);
  const z = Math.log(boundMs / p50) / sigma;
  return normalUpperTail(z);
}
