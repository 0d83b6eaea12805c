import { describe, expect, it } from 'vitest';
import { isRolloutError } from '../../shared/errors.js';
import { SimulatedCluster } from '../simulation/simulated-cluster.js';
import { createMetricsProvider, type MetricsConfig } from './factory.js';
import { PrometheusMetrics } from './prometheus-metrics.js';
import { SimulatedMetrics } from './simulated-metrics.js';

describe('createMetricsProvider', () => {
  it('creates the simulated provider', () => {
    const cluster = new SimulatedCluster({ name: 'eu-west' });
    expect(createMetricsProvider({ type: 'simulated', cluster })).toBeInstanceOf(SimulatedMetrics);
  });

  it('creates the prometheus provider, which validates its URL', () => {
    expect(
      createMetricsProvider({ type: 'prometheus', url: 'http://prometheus:9090' }),
    ).toBeInstanceOf(PrometheusMetrics);
    expect(() => createMetricsProvider({ type: 'prometheus', url: 'prometheus:9090' })).toThrow(
      /^PROMETHEUS_URL: /,
    );
  });

  it.each(['datadog', 'prom', ''])(
    'refuses %j, naming METRICS_PROVIDER and the allowed values',
    (type) => {
      let error: unknown;
      try {
        createMetricsProvider({ type } as unknown as MetricsConfig);
      } catch (err) {
        error = err;
      }
      expect(isRolloutError(error, 'invalid_config')).toBe(true);
      expect(error).toMatchObject({ variable: 'METRICS_PROVIDER' });
      expect((error as Error).message).toContain(
        `METRICS_PROVIDER: unknown metrics provider ${JSON.stringify(type)}`,
      );
      expect((error as Error).message).toContain('"simulated", "prometheus"');
    },
  );
});
