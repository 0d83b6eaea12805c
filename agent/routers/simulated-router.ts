import { Counter } from 'prom-client';
import type { RouterOperation } from '../simulation/faults.js';
import type { SimulatedCluster, SimulatedRoute } from '../simulation/simulated-cluster.js';
import { assertCanaryWeight, assertNotFenced, RouterError } from './router-error.js';
import {
  mirrorFor,
  type AppliedMark,
  type RouteState,
  type RouteTarget,
  type TrafficRouter,
} from './traffic-router.js';

/**
 * Route reads and writes of every simulated router in this process: what a real cluster would see
 * as Kubernetes API calls, so the scale bench can count them per rollout. The agent's /metrics
 * registers it (`AgentEndpoints.include`); it shows no series before the first call.
 */
export const simulatedRouterCalls = new Counter({
  name: 'agent_router_calls_total',
  help: 'Calls to the simulated router (a real cluster’s Kubernetes API calls), by operation.',
  labelNames: ['operation'] as const,
  registers: [],
});

/**
 * A `TrafficRouter` over a `SimulatedCluster`: the route is a record in the cluster (persisted
 * when the cluster has a state file). A service without a route gets one on its first
 * `setWeight` (a real router would answer `route_not_found`). Injected `routerFailure` faults
 * reject with `RouterError('injected_fault')` and change nothing.
 *
 * After `promote` the new version is the stable one with all traffic (canary weight 0, no canary
 * version, the old stable version kept as `previousStableVersion`); after `rollback` the target's
 * stable version has all traffic and the canary version is cleared, also after a promotion (the
 * promotion is undone: the simulation serves a version by name, so nothing else moves). Either
 * way the route no longer shows a rollout in progress.
 */
export class SimulatedRouter implements TrafficRouter {
  constructor(private readonly cluster: SimulatedCluster) {}

  async setWeight(
    target: RouteTarget,
    canaryWeight: number,
    mark: AppliedMark,
  ): Promise<RouteState> {
    simulatedRouterCalls.inc({ operation: 'setWeight' });
    assertCanaryWeight(target.service, canaryWeight);
    const current = this.cluster.route(target.service);
    assertNotFenced(target.service, current?.applied, mark);
    const stageIndex = nextStageIndex(current, mark);
    this.failIfInjected('setWeight', target, stageIndex);
    const mirrorPercent = mirrorFor(target, canaryWeight);
    this.cluster.putRoute(
      target.service,
      {
        stableVersion: target.stableVersion,
        canaryVersion: target.canaryVersion,
        canaryWeight,
        ...(mirrorPercent !== undefined && { mirrorPercent }),
        strategy: target.strategy,
        applied: copyOf(mark),
        stageIndex,
      },
      'setWeight',
    );
    return this.readBack(target.service);
  }

  async promote(target: RouteTarget, mark: AppliedMark): Promise<RouteState> {
    simulatedRouterCalls.inc({ operation: 'promote' });
    const current = this.cluster.route(target.service);
    assertNotFenced(target.service, current?.applied, mark);
    this.failIfInjected('promote', target, current?.stageIndex ?? -1);
    this.cluster.putRoute(
      target.service,
      {
        stableVersion: target.canaryVersion,
        canaryWeight: 0,
        previousStableVersion: target.stableVersion,
        strategy: target.strategy,
        applied: copyOf(mark),
        stageIndex: current?.stageIndex ?? -1,
      },
      'promote',
    );
    return this.readBack(target.service);
  }

  async rollback(target: RouteTarget, mark: AppliedMark): Promise<RouteState> {
    simulatedRouterCalls.inc({ operation: 'rollback' });
    const current = this.cluster.route(target.service);
    assertNotFenced(target.service, current?.applied, mark);
    this.failIfInjected('rollback', target, current?.stageIndex ?? -1);
    this.cluster.putRoute(
      target.service,
      {
        stableVersion: target.stableVersion,
        canaryWeight: 0,
        strategy: target.strategy,
        applied: copyOf(mark),
        stageIndex: current?.stageIndex ?? -1,
      },
      'rollback',
    );
    return this.readBack(target.service);
  }

  async read(service: string): Promise<RouteState | undefined> {
    simulatedRouterCalls.inc({ operation: 'read' });
    const route = this.cluster.route(service);
    if (route === undefined) return undefined;
    return {
      canaryWeight: route.canaryWeight,
      stableVersion: route.stableVersion,
      ...(route.canaryVersion !== undefined && { canaryVersion: route.canaryVersion }),
      ...(route.mirrorPercent !== undefined && { mirrorPercent: route.mirrorPercent }),
      ...(route.previousStableVersion !== undefined && {
        previousStableVersion: route.previousStableVersion,
      }),
      ...(route.applied !== undefined && { applied: { ...route.applied } }),
    };
  }

  private failIfInjected(
    operation: RouterOperation,
    target: RouteTarget,
    stageIndex: number,
  ): void {
    const fault = this.cluster.routerFailure(
      { service: target.service, version: target.canaryVersion, stageIndex },
      operation,
    );
    if (fault !== undefined) {
      throw new RouterError(
        'injected_fault',
        `${operation} of ${target.service} ${target.canaryVersion} in simulated cluster ${this.cluster.name} failed: injected fault ${fault} (clear it to recover)`,
      );
    }
  }

  private async readBack(service: string): Promise<RouteState> {
    const state = await this.read(service);
    if (state === undefined) {
      throw new RouterError(
        'unconfirmed',
        `route of ${service} vanished right after it was written`,
      );
    }
    return state;
  }
}

/** Only the mark's own fields: a caller's extra properties are not stored with the route. */
function copyOf(mark: AppliedMark): AppliedMark {
  const { rolloutId, seq, stageIndex, strategy, fence } = mark;
  return { rolloutId, seq, stageIndex, strategy, ...(fence !== undefined && { fence }) };
}

/**
 * The simulation's own stage count, which fault `fromStage` refers to (kept apart from the mark's
 * `stageIndex`, the agent's, so faults mean the same whoever writes the route): a rollout's first setWeight
 * is -1 (the agent's `start`), each later one with a newer seq is the next stage, and a repeat
 * of the same mark stays where it is.
 */
function nextStageIndex(current: SimulatedRoute | undefined, mark: AppliedMark): number {
  if (current?.applied?.rolloutId !== mark.rolloutId) return -1;
  return mark.seq > current.applied.seq ? current.stageIndex + 1 : current.stageIndex;
}
