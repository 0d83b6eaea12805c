import { ConfigError } from '../../shared/errors.js';
import type { SimulatedCluster } from '../simulation/simulated-cluster.js';
import type { MetricsProvider } from './metrics-provider.js';
import { PrometheusMetrics, type PrometheusMetricsOptions } from './prometheus-metrics.js';
import { SimulatedMetrics } from './simulated-metrics.js';

/** Metrics provider types this build can create (`METRICS_PROVIDER`). */
export const METRICS_PROVIDER_TYPES = ['simulated', 'prometheus'] as const;

export type MetricsConfig =
  | { type: 'simulated'; cluster: SimulatedCluster; onBatch?: (queries: number) => void }
  | ({ type: 'prometheus' } & PrometheusMetricsOptions);

/**
 * Creates the configured metrics provider. An unknown type is a `ConfigError` naming
 * `METRICS_PROVIDER` and the allowed values, never a fallback to some default provider.
 */
export function createMetricsProvider(config: MetricsConfig): MetricsProvider {
  switch (config.type) {
    case 'simulated':
      return new SimulatedMetrics(config.cluster, Date.now, config.onBatch);
    case 'prometheus':
      return new PrometheusMetrics(config);
    default: {
      // Exhaustive: a new type added to the config union fails to compile until it has a case.
      const unknown: never = config;
      throw new ConfigError(
        'METRICS_PROVIDER',
        `unknown metrics provider ${JSON.stringify((unknown as { type: unknown }).type)}; this build supports ${METRICS_PROVIDER_TYPES.map((t) => `"${t}"`).join(', ')}`,
      );
    }
  }
}
