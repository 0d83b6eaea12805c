import { describe, expect, it } from 'vitest';
import { isRolloutError } from '../../shared/errors.js';
import { SimulatedCluster } from '../simulation/simulated-cluster.js';
import { createRouter, type RouterConfig } from './factory.js';
import { GatewayApiRouter } from './gateway-api-router.js';
import { SimulatedRouter } from './simulated-router.js';

describe('createRouter', () => {
  it('creates the simulated router', () => {
    const cluster = new SimulatedCluster({ name: 'eu-west' });
    expect(createRouter({ type: 'simulated', cluster })).toBeInstanceOf(SimulatedRouter);
  });

  it('creates the gateway-api router', () => {
    const api = {
      server: 'https://kubernetes.default.svc',
      get: () => Promise.reject(new Error('not called')),
      mergePatch: () => Promise.reject(new Error('not called')),
    };
    expect(
      createRouter({ type: 'gateway-api', cluster: 'eu-west', api, services: {} }),
    ).toBeInstanceOf(GatewayApiRouter);
  });

  it.each(['istio', 'gateway', ''])(
    'refuses %j, naming TRAFFIC_ROUTER and the allowed values',
    (type) => {
      let error: unknown;
      try {
        createRouter({ type } as unknown as RouterConfig);
      } catch (err) {
        error = err;
      }
      expect(isRolloutError(error, 'invalid_config')).toBe(true);
      expect(error).toMatchObject({ variable: 'TRAFFIC_ROUTER' });
      expect((error as Error).message).toContain(
        `TRAFFIC_ROUTER: unknown traffic router ${JSON.stringify(type)}`,
      );
      expect((error as Error).message).toContain('"simulated", "gateway-api"');
    },
  );
});
