import type { Stage } from '../shared/rollout/plan.js';
import type { RouteState, RouteTarget } from './routers/traffic-router.js';

/** What an agent knows about one rollout in its cluster. Memory only: rebuilt from routes. */
export interface TrackedRollout {
  rolloutId: string;
  service: string;
  /** Known from `start`, or rebuilt from the route after a restart; undefined when neither. */
  target?: RouteTarget;
  stages?: Stage[];
  /** Consumers of the service to watch with each sample (`StartPayload.dependents`), from `start`. */
  dependents?: string[];
  /**
   * The stage the cluster is at, for health samples: 0 from `start`, then each `set_weight`'s;
   * after a restart, the stage stored in the route's applied mark. Undefined only when the mark
   * predates marks with stages, until a command says.
   */
  stageIndex?: number;
  /** From `start` (or a route showing a rollout in progress) until promote/rollback is confirmed. */
  active: boolean;
  paused: boolean;
  /** Highest seq this process answered (applied or refused, and its event published); -1 before. */
  handledSeq: number;
  /** Seq of the route's applied mark for this rollout, as last read or written; -1 when none. */
  appliedSeq: number;
  /**
   * Set when the route was found to belong to a newer rollout (a higher fence) the first time a
   * command of this one arrived: every command of this rollout is refused in this process.
   */
  fencedBy?: number;
}

/** The agent's rollouts by id; finished ones stay (bounded) so late duplicates are recognised. */
export class RolloutTable {
  private readonly rollouts = new Map<string, TrackedRollout>();

  constructor(private readonly maxFinished = 1_000) {}

  get(rolloutId: string): TrackedRollout | undefined {
    return this.rollouts.get(rolloutId);
  }

  set(rollout: TrackedRollout): void {
    this.rollouts.set(rollout.rolloutId, rollout);
    this.evictFinished();
  }

  active(): TrackedRollout[] {
    return [...this.rollouts.values()].filter((r) => r.active);
  }

  private evictFinished(): void {
    const finished = [...this.rollouts.values()].filter((r) => !r.active);
    for (const old of finished.slice(0, Math.max(0, finished.length - this.maxFinished))) {
      this.rollouts.delete(old.rolloutId);
    }
  }
}

/**
 * A rollout as its route shows it: in progress while the route has a canary version. The mark
 * gives the stage and strategy, so sampling resumes at once: during a bake no command comes
 * that would say them. A promoted route keeps the target too, so a rollback can still undo it.
 */
export function fromRoute(rolloutId: string, service: string, route: RouteState): TrackedRollout {
  const inProgress = route.canaryVersion !== undefined;
  const mark = route.applied;
  // A mark stored by an agent from before marks carried the stage has neither field: the rollout
  // is then sampled once a command says its stage, and taken for a canary.
  const stageIndex = typeof mark?.stageIndex === 'number' ? mark.stageIndex : undefined;
  const strategy = mark?.strategy ?? 'canary';
  // In progress: the route's two versions. Promoted (and not rolled back): the promoted version is
  // the route's stable one, and the one before it what a rollback must restore.
  const target: RouteTarget | undefined = inProgress
    ? {
        service,
        stableVersion: route.stableVersion,
        canaryVersion: route.canaryVersion!,
        strategy,
        // A preview being judged keeps its mirror through the writes that follow a restart.
        ...(route.mirrorPercent !== undefined && { mirrorPercent: route.mirrorPercent }),
      }
    : route.previousStableVersion !== undefined
      ? {
          service,
          stableVersion: route.previousStableVersion,
          canaryVersion: route.stableVersion,
          strategy,
        }
      : undefined;
  return {
    rolloutId,
    service,
    ...(target !== undefined && { target }),
    ...(inProgress && stageIndex !== undefined && { stageIndex }),
    active: inProgress,
    paused: false,
    handledSeq: -1,
    appliedSeq: route.applied?.seq ?? -1,
  };
}
