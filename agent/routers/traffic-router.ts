import type { Strategy } from '../../shared/rollout/plan.js';

/** What a router needs to find and shape one service's traffic in its cluster. */
export interface RouteTarget {
  service: string;
  stableVersion: string;
  canaryVersion: string;
  strategy: Strategy;
  /**
   * Blue-green: percentage of live requests to mirror (copy) to the preview while it is at
   * weight 0. Routers mirror only then, and remove the mirror with any other write.
   */
  mirrorPercent?: number;
}

/** The traffic split as the router reads it back from the cluster, not as it was asked for. */
export interface RouteState {
  /** Percentage of traffic on the canary (the new version), 0..100. */
  canaryWeight: number;
  /** The version serving the rest of the traffic. */
  stableVersion: string;
  canaryVersion?: string;
  /** Percentage of requests mirrored to the canary version; absent when none are. */
  mirrorPercent?: number;
  /**
   * Set after `promote` until the route is next written: the version that was stable before the
   * promotion, which a `rollback` of that rollout restores. An agent that did not apply the
   * promotion itself (a restart, another replica) learns from it what to roll back to.
   */
  previousStableVersion?: string;
  /**
   * The last command applied to this route, stored with the route itself (an annotation on a
   * real HTTPRoute), so an agent that restarts knows what it already did without memory.
   */
  applied?: AppliedMark;
}

/**
 * What the agent stores with a route each time it writes it: enough to carry on after a restart
 * without any command (a stage's bake brings none) — which rollout and command it was, the stage
 * the rollout is at (what health samples are tagged with), and the strategy (the route's versions
 * say the rest). Routers store it verbatim and return it from `read`.
 */
export interface AppliedMark {
  rolloutId: string;
  /** Seq of the command whose write this is. */
  seq: number;
  /** The rollout's stage after this command: 0 after `start`, the command's stage after `set_weight`. */
  stageIndex: number;
  strategy: Strategy;
  /**
   * The rollout's fencing number (the command's `fence`). A router refuses to write a mark whose
   * fence is below the one the route holds (`RouterError('fenced')`): a command of an older
   * rollout never rewrites the route of a newer one. Absent on marks written before fencing.
   */
  fence?: number;
}

/**
 * Shifts one cluster's traffic. Every method confirms by reading the route back and resolves
 * with what it read; it rejects with a `RouterError` whose message tells an operator what to
 * fix. Methods are idempotent: applying the same weight twice is harmless. Every write checks
 * the route's mark first (`assertNotFenced`) and changes nothing for an older rollout's command.
 */
/** The mirror a `setWeight` of `target` to `canaryWeight` puts on the route, if any. */
export function mirrorFor(target: RouteTarget, canaryWeight: number): number | undefined {
  return target.strategy === 'blue-green' && canaryWeight === 0 ? target.mirrorPercent : undefined;
}

export interface TrafficRouter {
  setWeight(target: RouteTarget, canaryWeight: number, mark: AppliedMark): Promise<RouteState>;
  /** Makes the canary version the stable one, with all traffic on it. */
  promote(target: RouteTarget, mark: AppliedMark): Promise<RouteState>;
  /**
   * All traffic back to `target.stableVersion`, the version that was stable before the rollout
   * (canary weight 0). After a `promote` of the same target this undoes the promotion: the version
   * promoted stops serving, and `read` shows `target.stableVersion` as stable.
   */
  rollback(target: RouteTarget, mark: AppliedMark): Promise<RouteState>;
  /** The current split, for recovery after a restart; `undefined` when the service has no route. */
  read(service: string): Promise<RouteState | undefined>;
}
