import type { Measurement } from '../../shared/contracts/events.js';
import type { SimulatedCluster } from '../simulation/simulated-cluster.js';
import { simulateWindow, trafficShare } from '../simulation/traffic-model.js';
import type { MeasureQuery, MetricsProvider } from './metrics-provider.js';

/**
 * A `MetricsProvider` over a `SimulatedCluster`: requests follow the route's traffic split,
 * errors and latency the service's traffic profile plus the faults in force (see
 * `simulateWindow`). A service without a route, or an injected `metricsUnavailable`, is
 * reported `unavailable`; a version the route does not serve has zero requests.
 */
export class SimulatedMetrics implements MetricsProvider {
  constructor(private readonly cluster: SimulatedCluster) {}

  async measure(query: MeasureQuery): Promise<Measurement> {
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
      return simulateWindow({
        profile,
        share: trafficShare(route, query.version),
        windowMs: query.windowMs,
        effect,
        random: this.cluster.random,
      });
    } catch (err) {
      // The port never rejects: a gate must see "unavailable", not an exception.
      return unavailable(`simulated metrics failed: ${(err as Error).message}`);
    }
  }
}

function unavailable(reason: string): Measurement {
  return { status: 'unavailable', reason };
}
