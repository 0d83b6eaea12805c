import type { Policy } from '../shared/config/policy.js';
import type { Logger } from '../shared/log.js';
import { LeaseElector } from './leader/lease-elector.js';
import { ConfigError, isRolloutError } from '../shared/errors.js';
import type { MetricsProvider } from './metrics/metrics-provider.js';
import { PrometheusMetrics, type PrometheusMetricsOptions } from './metrics/prometheus-metrics.js';
import { GatewayApiRouter, type GatewayRoutedService } from './routers/gateway-api-router.js';
import { HttpRouteInformer } from './routers/http-route-informer.js';
import type { HttpRouteApi, HttpRouteWatchApi } from './routers/kube-api.js';
import type { TrafficRouter } from './routers/traffic-router.js';

/**
 * Configuration of the real drivers from the environment and the policy, and their checks at
 * start: the agent refuses to run on a route that does not exist, a template Prometheus cannot
 * parse or a Kubernetes API it cannot reach, with a `ConfigError` naming the field to fix.
 */

export interface KubeEnv {
  KUBECONFIG?: string | undefined;
  /** Set by Kubernetes in every pod: the agent then uses its service account. */
  KUBERNETES_SERVICE_HOST?: string | undefined;
}

/** Where the Kubernetes API is configured, for messages: the variable to look at. */
export function kubeSource(env: KubeEnv): string {
  return env.KUBECONFIG !== undefined ? 'KUBECONFIG' : 'KUBERNETES_SERVICE_HOST';
}

/**
 * The Kubernetes API from `KUBECONFIG`, or in a pod from its service account token and CA. The
 * client library is loaded here, only for the gateway-api router.
 */
export async function httpRouteApi(env: KubeEnv): Promise<HttpRouteApi & HttpRouteWatchApi> {
  if (env.KUBECONFIG === undefined && env.KUBERNETES_SERVICE_HOST === undefined) {
    throw new ConfigError(
      'KUBECONFIG',
      'is not set and the agent is not in a pod (no KUBERNETES_SERVICE_HOST): TRAFFIC_ROUTER=gateway-api needs a kubeconfig file or the in-cluster service account',
    );
  }
  const { KubeHttpRouteApi, loadKubeConfig } = await import('./routers/kube-http-routes.js');
  try {
    return new KubeHttpRouteApi(
      loadKubeConfig(
        env.KUBECONFIG !== undefined ? { kubeconfig: env.KUBECONFIG } : { inCluster: true },
      ),
    );
  } catch (err) {
    throw new ConfigError(
      kubeSource(env),
      `cannot load the Kubernetes configuration: ${(err as Error).message}`,
    );
  }
}

/**
 * The election of the replica that samples, for agents on Kubernetes (the gateway-api router): a
 * Lease `rollout-agent-<cluster>` in the agent's own namespace (the kubeconfig context's, or the
 * pod's), which the agent's Role lets it get, create and update.
 */
export async function leaseElector(
  env: KubeEnv,
  cluster: string,
  identity: string,
  logger: Logger,
): Promise<LeaseElector> {
  const { loadKubeConfig } = await import('./routers/kube-http-routes.js');
  const { KubeLeaseApi } = await import('./leader/kube-lease-api.js');
  let config: ReturnType<typeof loadKubeConfig>;
  try {
    config = loadKubeConfig(
      env.KUBECONFIG !== undefined ? { kubeconfig: env.KUBECONFIG } : { inCluster: true },
    );
  } catch (err) {
    throw new ConfigError(
      kubeSource(env),
      `cannot load the Kubernetes configuration: ${(err as Error).message}`,
    );
  }
  const namespace = config.getContextObject(config.getCurrentContext())?.namespace ?? 'default';
  return new LeaseElector({
    api: new KubeLeaseApi(config, namespace, `rollout-agent-${cluster}`),
    identity,
    logger,
  });
}

/**
 * The watch that keeps the routes of the policy's namespaces for the `gateway-api` router, so its
 * reads cost no API call per sampling round (the agent's Role grants list and watch on
 * httproutes). Not started here: the caller starts it, and stops it at shutdown.
 */
export function httpRouteInformer(
  api: HttpRouteWatchApi,
  services: Record<string, GatewayRoutedService>,
  logger: Logger,
): HttpRouteInformer {
  return new HttpRouteInformer({
    api,
    namespaces: [...new Set(Object.values(services).map((s) => s.routing.namespace))],
    logger,
  });
}

/** The `gateway-api` router's services: every service of `cluster`, each with its `routing`. */
export function gatewayServices(
  policy: Policy,
  cluster: string,
): Record<string, GatewayRoutedService> {
  const services: Record<string, GatewayRoutedService> = {};
  for (const [name, service] of Object.entries(policy.services)) {
    if (!service.clusters.includes(cluster)) continue;
    if (service.routing === undefined) {
      throw new ConfigError(
        `services.${name}.routing`,
        `is not set: with TRAFFIC_ROUTER=gateway-api every service of cluster ${cluster} needs { namespace, httpRoute, stableService, canaryService }`,
      );
    }
    services[name] = { routing: service.routing, stableVersion: service.stableVersion };
  }
  return services;
}

/** The `prometheus` provider's options: `PROMETHEUS_URL` and the policy's templates. */
export function prometheusOptions(
  url: string | undefined,
  policy: Policy,
): PrometheusMetricsOptions {
  if (url === undefined) {
    throw new ConfigError(
      'PROMETHEUS_URL',
      'is not set: METRICS_PROVIDER=prometheus needs Prometheus’ base URL, e.g. http://prometheus.monitoring:9090',
    );
  }
  return {
    url,
    ...(policy.prometheus && {
      queries: policy.prometheus.queries,
      minWindowMs: policy.prometheus.minWindow,
      timeoutMs: policy.prometheus.timeout,
    }),
    services: Object.fromEntries(
      Object.entries(policy.services).map(([name, service]) => [name, service.prometheus]),
    ),
  };
}

/**
 * Checks the configured drivers against the real systems once, before the agent consumes any
 * command. Simulated drivers need no check.
 */
export async function verifyDrivers(options: {
  router: TrafficRouter;
  metrics: MetricsProvider;
  services: Record<string, { stableVersion: string }>;
  env: KubeEnv;
}): Promise<void> {
  const { router, metrics, services, env } = options;
  if (router instanceof GatewayApiRouter) {
    for (const service of Object.keys(services)) {
      try {
        await router.verify(service);
      } catch (err) {
        if (!isRolloutError(err)) throw err;
        const field =
          err.code === 'router_unavailable'
            ? kubeSource(env)
            : err.code === 'route_not_found'
              ? `services.${service}.routing.httpRoute`
              : `services.${service}.routing`;
        throw new ConfigError(field, err.message);
      }
    }
  }
  if (metrics instanceof PrometheusMetrics) {
    await metrics.verify(
      Object.entries(services).map(([service, { stableVersion }]) => ({
        service,
        version: stableVersion,
      })),
    );
  }
}
