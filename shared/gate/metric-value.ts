import type { Measurement } from '../contracts/events.js';
import type { GateMetric } from '../rollout/plan.js';

type Measured = Extract<Measurement, { status: 'ok' }>;

/** A gate metric's value in a measurement: error rate as a fraction, latency in ms. */
export function metricValue(metric: GateMetric, m: Measured): number {
  switch (metric) {
    case 'error_rate':
      return m.requests === 0 ? 0 : m.errors / m.requests;
    case 'latency_p95':
      return m.latencyMs.p95;
    case 'latency_p99':
      return m.latencyMs.p99;
    default: {
      const never: never = metric;
      throw new Error(`unknown gate metric ${String(never)}`);
    }
  }
}
