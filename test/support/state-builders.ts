import { randomUUID } from 'node:crypto';
import type { Commit, HistoryEntry } from '../../shared/ports/rollout-store.js';
import { RolloutPlan } from '../../shared/rollout/plan.js';
import {
  RolloutState,
  type ClusterState,
  type Effect,
  type RolloutStatus,
} from '../../shared/rollout/state.js';

/**
 * Builders for stored rollouts: states, and the commits that write them. Defaults describe a
 * pending canary of `checkout 2.4.1` in `eu-west`; tests state only what they are about.
 * (Plans with other stages or gates come from `aPlan()` in plan-builders.ts, via `withPlan`.)
 */

let nextId = 1;
/** A fresh id per call, so tests sharing one store never collide. */
export function aRolloutId(label = 'r'): string {
  return `${label}-${process.pid}-${Date.now().toString(36)}-${nextId++}`;
}

export class RolloutStateBuilder {
  private state: RolloutState;

  constructor() {
    const plan = RolloutPlan.parse({
      service: 'checkout',
      version: '2.4.1',
      stableVersion: '2.4.0',
      strategy: 'canary',
      clusters: ['eu-west'],
      startedBy: 'U-starter',
      stages: [5, 25, 100].map((weight) => ({
        weight,
        bakeMs: 300_000,
        gate: {
          checks: [{ metric: 'error_rate', mode: 'absolute', max: 0.02 }],
          minRequests: 100,
          intervalMs: 60_000,
          failureLimit: 2,
        },
      })),
    });
    this.state = {
      id: aRolloutId(),
      version: 0,
      plan,
      status: 'pending',
      stageIndex: 0,
      seq: 0,
      clusters: Object.fromEntries(plan.clusters.map((c) => [c, pendingCluster()])),
      approvals: [],
      gate: { tick: 0, consecutiveFailures: 0, heldAlerted: false },
      createdAt: 1_700_000_000_000,
      updatedAt: 1_700_000_000_000,
    };
  }

  withId(id: string): this {
    this.state.id = id;
    return this;
  }

  withVersion(version: number): this {
    this.state.version = version;
    return this;
  }

  withStatus(status: RolloutStatus): this {
    this.state.status = status;
    return this;
  }

  withService(service: string): this {
    this.state.plan = { ...this.state.plan, service };
    return this;
  }

  /** Replaces the plan; the cluster map follows the plan's clusters. */
  withPlan(plan: RolloutPlan): this {
    this.state.plan = plan;
    this.state.clusters = Object.fromEntries(plan.clusters.map((c) => [c, pendingCluster()]));
    return this;
  }

  withStageIndex(stageIndex: number): this {
    this.state.stageIndex = stageIndex;
    return this;
  }

  createdAt(at: number): this {
    this.state.createdAt = at;
    this.state.updatedAt = Math.max(this.state.updatedAt, at);
    return this;
  }

  /** Parsed with the real schema, so a builder can never hand a test an impossible state. */
  build(): RolloutState {
    return RolloutState.parse(structuredClone(this.state));
  }
}

export function aRolloutState(): RolloutStateBuilder {
  return new RolloutStateBuilder();
}

/** The same rollout one accepted input later: version + 1, with what changed. */
export function nextVersion(
  state: RolloutState,
  changes: Partial<RolloutState> = {},
): RolloutState {
  return RolloutState.parse({
    ...structuredClone(state),
    version: state.version + 1,
    updatedAt: state.updatedAt + 1000,
    ...changes,
  });
}

export function aHistoryEntry(
  state: RolloutState,
  overrides: Partial<HistoryEntry> = {},
): HistoryEntry {
  return {
    at: state.updatedAt,
    version: state.version,
    actor: state.plan.startedBy,
    input: state.version === 0 ? 'create' : 'start',
    status: state.status,
    ...overrides,
  };
}

/** A UUID, as the rollout service gives effects: a published command's id is its effect's. */
export function anEffectId(): string {
  return randomUUID();
}

/** A commit of `state` with the given effects (fresh effect ids) and a matching history entry. */
export function aCommit(
  state: RolloutState,
  effects: Effect[] = [],
  history: Partial<HistoryEntry> = {},
): Commit & { history: HistoryEntry } {
  return {
    state,
    effects: effects.map((effect) => ({ id: anEffectId(), effect })),
    history: aHistoryEntry(state, history),
  };
}

function pendingCluster(): ClusterState {
  return { status: 'pending', weight: 0, appliedStage: -1 };
}
