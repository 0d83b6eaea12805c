import { ConfigError } from '../../shared/errors.js';
import type { SimulatedCluster } from '../simulation/simulated-cluster.js';
import { GatewayApiRouter, type GatewayApiRouterOptions } from './gateway-api-router.js';
import { SimulatedRouter } from './simulated-router.js';
import type { TrafficRouter } from './traffic-router.js';

/** Router types this build can create (`TRAFFIC_ROUTER`). */
export const ROUTER_TYPES = ['simulated', 'gateway-api'] as const;

export type RouterConfig =
  | { type: 'simulated'; cluster: SimulatedCluster }
  | ({ type: 'gateway-api' } & GatewayApiRouterOptions);

/**
 * Creates the configured router. An unknown type is a `ConfigError` naming `TRAFFIC_ROUTER` and
 * the allowed values, never a fallback to some default router.
 */
export function createRouter(config: RouterConfig): TrafficRouter {
  switch (config.type) {
    case 'simulated':
      return new SimulatedRouter(config.cluster);
    case 'gateway-api':
      return new GatewayApiRouter(config);
    default: {
      // Exhaustive: a new type added to the config union fails to compile until it has a case.
      const unknown: never = config;
      throw new ConfigError(
        'TRAFFIC_ROUTER',
        `unknown traffic router ${JSON.stringify((unknown as { type: unknown }).type)}; this build supports ${ROUTER_TYPES.map((t) => `"${t}"`).join(', ')}`,
      );
    }
  }
}
