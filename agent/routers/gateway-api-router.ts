import { isDeepStrictEqual } from 'node:util';
import type { ServiceRouting } from '../../shared/config/routing.js';
import {
  APPLIED_ANNOTATION,
  hasWeights,
  ROLLOUT_ANNOTATION,
  routeName,
  routeState,
  serializeRecord,
  unresolvedRefs,
  viewRoute,
  withMirror,
  withWeights,
  type HttpRoute,
  type RolloutRecord,
  type RouteView,
} from './http-route.js';
import type { HttpRouteCache } from './http-route-informer.js';
import { KubeApiError, type HttpRouteApi } from './kube-api.js';
import { assertCanaryWeight, assertNotFenced, RouterError } from './router-error.js';
import {
  mirrorFor,
  type AppliedMark,
  type RouteState,
  type RouteTarget,
  type TrafficRouter,
} from './traffic-router.js';

export interface GatewayRoutedService {
  routing: ServiceRouting;
  /** The policy's `stableVersion`: what the route serves before the router ever wrote to it. */
  stableVersion: string;
}

export interface GatewayApiRouterOptions {
  /** The cluster's name, for messages. */
  cluster: string;
  api: HttpRouteApi;
  /** Services with `routing` in the policy; others have no route as far as this router knows. */
  services: Record<string, GatewayRoutedService>;
  /** Writes tried against a route that keeps changing (409) before giving up. Default 5. */
  maxConflicts?: number;
  /**
   * Routes kept by a watch (`HttpRouteInformer`): `read` answers from it while it is fresh, with
   * no API call. Writes still GET and PATCH with the resourceVersion, and feed it what they saw.
   * Without it every `read` is a GET.
   */
  routes?: HttpRouteCache;
}

/**
 * A `TrafficRouter` over a Gateway API `HTTPRoute`: the canary weight is the weight of the canary
 * Service's backendRef against the stable Service's in every rule that references them (the
 * stable one gets `100 - weight`). Nothing else on the route changes: other rules, other
 * backends, filters and matches are written back as read.
 *
 * Each change is a JSON merge patch carrying the `resourceVersion` it was computed from, so a
 * concurrent writer makes it fail with 409 instead of being overwritten; the router then reads the
 * fresh route and computes the change again. It then reads the route back and resolves with what
 * it read. The applied mark and the versions behind the two Services are stored as annotations
 * on the route (`rollout-chatops.io/applied`, `rollout-chatops.io/rollout`).
 *
 * Promotion hands the stable role to the Service that served the canary (it keeps all traffic);
 * the next version is deployed behind the other one. Until then the other one still serves the
 * old version, so a rollback of the promoted rollout hands the stable role back to it. Canary and blue-green shift weights alike: a
 * blue-green preview is weight 0, reachable through the canary Service directly; with
 * `target.mirrorPercent` the owned rules also get a `RequestMirror` filter copying that share of
 * live requests to the canary Service while the preview is judged, and any other write removes it.
 */
export class GatewayApiRouter implements TrafficRouter {
  private readonly maxConflicts: number;

  constructor(private readonly options: GatewayApiRouterOptions) {
    this.maxConflicts = options.maxConflicts ?? 5;
  }

  async setWeight(
    target: RouteTarget,
    canaryWeight: number,
    mark: AppliedMark,
  ): Promise<RouteState> {
    assertCanaryWeight(target.service, canaryWeight);
    const mirror = mirrorFor(target, canaryWeight);
    // A mirror sends requests to the preview too: its Service must resolve.
    return this.change(target, mark, canaryWeight > 0 || mirror !== undefined, (view) => ({
      weights: { stable: 100 - canaryWeight, canary: canaryWeight },
      mirrorPercent: mirror,
      record: {
        stableVersion: target.stableVersion,
        stableService: view.stableService,
        canaryVersion: target.canaryVersion,
        strategy: target.strategy,
      },
    }));
  }

  async promote(target: RouteTarget, mark: AppliedMark): Promise<RouteState> {
    return this.change(target, mark, true, (view) => {
      // The Service behind the canary version becomes the stable one, with all the traffic.
      const stableService = isPromoted(view, target) ? view.stableService : view.canaryService;
      return {
        weights: { stable: 100, canary: 0 },
        record: {
          stableVersion: target.canaryVersion,
          stableService,
          // The old version stays behind the other Service: what a rollback hands traffic back to.
          previousStableVersion: target.stableVersion,
          strategy: target.strategy,
        },
      };
    });
  }

  async rollback(target: RouteTarget, mark: AppliedMark): Promise<RouteState> {
    // Rolling back never waits on broken references: all traffic to stable is the safe side.
    return this.change(target, mark, false, (view) => ({
      weights: { stable: 100, canary: 0 },
      record: {
        stableVersion: target.stableVersion,
        // After this rollout's promotion the stable role is the new version's Service: hand it
        // back to the other one, which still serves the version stable before the rollout.
        stableService: isPromoted(view, target) ? view.canaryService : view.stableService,
        strategy: target.strategy,
      },
    }));
  }

  async read(service: string): Promise<RouteState | undefined> {
    const config = this.options.services[service];
    if (config === undefined) return undefined;
    const { namespace, httpRoute } = config.routing;
    const cached = this.options.routes?.lookup(namespace, httpRoute);
    const route = cached?.fresh
      ? cached.route
      : await this.get(service, config.routing, { notFound: 'undefined' });
    if (route === undefined) return undefined;
    return routeState(viewRoute(route, service, config.routing), config.stableVersion);
  }

  /**
   * Checks the route a service's rollouts need: it exists, the agent may read it, and it has
   * backendRefs to both Services. For the agent's start; rejects with a `RouterError`.
   */
  async verify(service: string): Promise<RouteState> {
    const config = this.configOf(service);
    const route = (await this.get(service, config.routing, { notFound: 'throw' }))!;
    return routeState(viewRoute(route, service, config.routing), config.stableVersion);
  }

  /**
   * Read, compute, patch with the read resourceVersion; on 409 start over from a fresh read.
   * `needsBackends`: refuse while the gateway reports unresolved references (sending traffic
   * to a Service that does not exist fails those requests).
   */
  private async change(
    target: RouteTarget,
    mark: AppliedMark,
    needsBackends: boolean,
    plan: (view: RouteView) => {
      weights: { stable: number; canary: number };
      /** Mirror this percentage to the canary Service; undefined removes our mirror. */
      mirrorPercent?: number | undefined;
      record: RolloutRecord;
    },
  ): Promise<RouteState> {
    const config = this.configOf(target.service);
    const { routing } = config;
    for (let attempt = 1; ; attempt++) {
      const route = (await this.get(target.service, routing, { notFound: 'throw' }))!;
      let view = viewRoute(route, target.service, routing);
      assertNotFenced(target.service, view.applied, mark);
      const { weights, record, mirrorPercent } = plan(view);
      if (record.stableService !== view.stableService) {
        // Roles swap (promotion): `weights` are meant for the Services in their new roles.
        view = viewRoute(withRecord(route, record), target.service, routing);
      }
      const unresolved = unresolvedRefs(route);
      if (needsBackends && unresolved !== undefined) {
        throw new RouterError(
          'backend_not_found',
          `HTTPRoute ${routeName(routing)} in cluster ${this.options.cluster} has unresolved backends (ResolvedRefs=False, ${unresolved.reason ?? 'no reason'}: ${unresolved.message ?? 'no message'}): create the missing Service or fix services.${target.service}.routing; traffic left as it was`,
        );
      }
      const annotations = {
        [APPLIED_ANNOTATION]: JSON.stringify(mark),
        [ROLLOUT_ANNOTATION]: serializeRecord(record),
      };
      const rules = withMirror(withWeights(route, view.owned, weights), view.owned, {
        canaryService: view.canaryService,
        routing,
        percent: mirrorPercent,
      });
      const unchanged =
        isDeepStrictEqual(rules, route.spec?.rules ?? []) &&
        Object.entries(annotations).every(([k, v]) => route.metadata.annotations?.[k] === v);
      if (!unchanged) {
        const patch = {
          metadata: { resourceVersion: route.metadata.resourceVersion, annotations },
          spec: { rules },
        };
        try {
          // Not inlined into `routes?.remember(…)`: optional chaining would skip the PATCH itself.
          const written = await this.options.api.mergePatch(
            routing.namespace,
            routing.httpRoute,
            patch,
          );
          this.options.routes?.remember(written);
        } catch (err) {
          if (err instanceof KubeApiError && err.status === 409 && attempt < this.maxConflicts) {
            continue;
          }
          throw this.routerError(err, target.service, routing);
        }
      }
      return this.confirm(target.service, config, weights, mirrorPercent, annotations);
    }
  }

  /** Reads the route back: resolves only if it shows what was written. */
  private async confirm(
    service: string,
    config: GatewayRoutedService,
    weights: { stable: number; canary: number },
    mirrorPercent: number | undefined,
    annotations: Record<string, string>,
  ): Promise<RouteState> {
    const route = (await this.get(service, config.routing, { notFound: 'throw' }))!;
    const view = viewRoute(route, service, config.routing);
    const written =
      hasWeights(route, view.owned, weights) &&
      view.mirrorPercent === mirrorPercent &&
      Object.entries(annotations).every(([k, v]) => route.metadata.annotations?.[k] === v);
    if (!written) {
      throw new RouterError(
        'unconfirmed',
        `HTTPRoute ${routeName(config.routing)} does not show the weights just written (stable ${weights.stable}, canary ${weights.canary}${mirrorPercent === undefined ? '' : `, mirror ${mirrorPercent}%`}); something else rewrites it (a GitOps sync, another controller): stop that or exclude the route's backendRefs from it`,
      );
    }
    return routeState(view, config.stableVersion);
  }

  private async get(
    service: string,
    routing: ServiceRouting,
    options: { notFound: 'throw' | 'undefined' },
  ): Promise<HttpRoute | undefined> {
    try {
      const route = await this.options.api.get(routing.namespace, routing.httpRoute);
      this.options.routes?.remember(route);
      return route;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404 && options.notFound === 'undefined') {
        return undefined;
      }
      throw this.routerError(err, service, routing);
    }
  }

  private configOf(service: string): GatewayRoutedService {
    const config = this.options.services[service];
    if (config === undefined) {
      throw new RouterError(
        'route_not_found',
        `services.${service}.routing is not set in the policy: the gateway-api router needs the HTTPRoute (namespace, httpRoute) and the two Services (stableService, canaryService) of ${service}`,
      );
    }
    return config;
  }

  /** An operator's instruction for what went wrong talking to the API server. */
  private routerError(err: unknown, service: string, routing: ServiceRouting): Error {
    if (err instanceof RouterError || !(err instanceof KubeApiError)) return err as Error;
    const route = `HTTPRoute ${routeName(routing)}`;
    const cluster = this.options.cluster;
    switch (err.status) {
      case 404:
        return new RouterError(
          'route_not_found',
          `${route} not found in cluster ${cluster}: create it, or fix services.${service}.routing.namespace/httpRoute`,
        );
      case 401:
        return new RouterError(
          'forbidden',
          `the API server ${this.options.api.server} rejected the agent's credentials (401): check the service account token, or the user in KUBECONFIG`,
        );
      case 403:
        return new RouterError(
          'forbidden',
          `the agent may not ${err.verb} ${route} in cluster ${cluster} (${err.message}): grant verb "${err.verb}" on resource "httproutes" in API group "gateway.networking.k8s.io" in namespace ${routing.namespace} to the agent's service account (see infra/k8s/agent.yaml, Role rollout-agent)`,
        );
      case 409:
        return new RouterError(
          'conflict',
          `${route} changed under the agent ${this.maxConflicts} times in a row (409 Conflict): another writer keeps updating it; find it with kubectl get httproute -n ${routing.namespace} ${routing.httpRoute} --show-managed-fields -o yaml`,
        );
      case 400:
      case 422:
        return new RouterError(
          'invalid_route',
          `the API server refused the change to ${route} (${err.status}: ${err.message}); check the route with kubectl get httproute -n ${routing.namespace} ${routing.httpRoute} -o yaml`,
        );
      default:
        return new RouterError(
          'router_unavailable',
          `cannot ${err.verb} ${route} in cluster ${cluster}: ${err.status === undefined ? err.message : `API server answered ${err.status}: ${err.message}`}`,
        );
    }
  }
}

/** True when the route shows `target` promoted (its version stable, no rollout in progress). */
function isPromoted(view: RouteView, target: RouteTarget): boolean {
  return (
    view.record?.stableVersion === target.canaryVersion && view.record.canaryVersion === undefined
  );
}

function withRecord(route: HttpRoute, record: RolloutRecord): HttpRoute {
  return {
    ...route,
    metadata: {
      ...route.metadata,
      annotations: { ...route.metadata.annotations, [ROLLOUT_ANNOTATION]: serializeRecord(record) },
    },
  };
}
