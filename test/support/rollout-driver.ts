import type { GateOutcome, GateVerdict } from '../../shared/gate/verdict.js';
import type { RolloutPlan } from '../../shared/rollout/plan.js';
import type {
  Effect,
  PausableStatus,
  RolloutInput,
  RolloutState,
  RolloutStatus,
  TransitionResult,
} from '../../shared/rollout/state.js';
import { createRollout, transition } from '../../shared/rollout/transition.js';
import { startedClusters, waveClusters } from '../../shared/rollout/draft.js';
import type { CountedInterval } from '../../shared/contracts/counted-interval.js';
import { aVerdict } from './plan-builders.js';

/** 2025-01-01T09:00:00Z: a fixed start so effects and timestamps are reproducible. */
export const T0 = Date.UTC(2025, 0, 1, 9);

/**
 * Drives a rollout through real inputs, keeping the clock. `accept` fails the test on a
 * rejection; `send` returns the result either way and keeps the state only when accepted.
 */
export class RolloutDriver {
  state: RolloutState;
  now: number;
  /** Effects of the last accepted input. */
  effects: Effect[] = [];
  /** Every effect of every accepted input, in order. */
  readonly history: Effect[] = [];

  constructor(plan: RolloutPlan, { id = 'r-1', now = T0 }: { id?: string; now?: number } = {}) {
    this.now = now;
    this.state = createRollout(id, plan, now);
  }

  get plan(): RolloutPlan {
    return this.state.plan;
  }

  advance(ms: number): this {
    this.now += ms;
    return this;
  }

  send(input: RolloutInput): TransitionResult {
    const result = transition(this.state, input, this.now);
    if (result.ok) {
      this.state = result.state;
      this.effects = result.effects;
      this.history.push(...result.effects);
    }
    return result;
  }

  accept(input: RolloutInput): Effect[] {
    const result = this.send(input);
    if (!result.ok) {
      throw new Error(`${input.type} rejected (${result.code}): ${result.reason}`);
    }
    return result.effects;
  }

  start(): Effect[] {
    return this.accept({ type: 'start', actor: this.plan.startedBy });
  }

  /** Every cluster of the current wave (or the ones named) reports the current stage applied. */
  applyStage(...clusters: string[]): this {
    const stageIndex = this.state.stageIndex;
    const weight = this.plan.stages[stageIndex]!.weight;
    for (const cluster of clusters.length > 0 ? clusters : waveClusters(this.state)) {
      this.accept({ type: 'stage_applied', cluster, stageIndex, weight });
    }
    return this;
  }

  /** The result of the gate tick the rollout is waiting for. */
  gate(outcome: GateOutcome, overrides: Partial<GateVerdict> = {}): Effect[] {
    return this.accept({
      type: 'gate_result',
      stageIndex: this.state.stageIndex,
      tick: this.state.gate.tick,
      verdict: aVerdict(outcome, overrides),
    });
  }

  /** Moves the clock to the end of the current bake. */
  endBake(): this {
    const stage = this.plan.stages[this.state.stageIndex]!;
    this.now = Math.max(this.now, (this.state.bakeStartedAt ?? this.now) + stage.bakeMs);
    return this;
  }

  /** The bake ends and the gate passes. */
  passGate(): Effect[] {
    return this.endBake().gate('pass');
  }

  /** As many distinct listed approvers as the rule needs (never the starter). */
  approve(): this {
    const rule = this.plan.stages[this.state.stageIndex]!.gate.approval!;
    const approvers = rule.approvers.filter((a) => a !== this.plan.startedBy);
    for (let i = 0; i < rule.required; i++) {
      const listed = approvers[i % approvers.length]!;
      // Beyond the listed users, approvers act through a listed group.
      const actor = i < approvers.length ? listed : `U-member-${i}`;
      this.accept({ type: 'approve', actor, groups: [listed] });
    }
    return this;
  }

  /** From progressing at stage i to progressing at stage i + 1 (or promoting after the last). */
  completeStage(): this {
    this.applyStage();
    this.passGate();
    if (this.state.status === 'awaiting_approval') this.approve();
    return this;
  }

  /** Every cluster of every wave started confirms its rollback. */
  rollBackEverywhere(): this {
    for (const cluster of startedClusters(this.state))
      this.accept({ type: 'rolled_back', cluster });
    return this;
  }

  /**
   * Drives the rollout into `status` through real inputs. `stage` picks the stage for the
   * in-flight states; `pausedFrom` the state a pause begins in (default baking).
   */
  to(
    status: RolloutStatus,
    { stage = 0, pausedFrom = 'baking' }: { stage?: number; pausedFrom?: PausableStatus } = {},
  ): this {
    const toProgressing = () => {
      this.start();
      for (let i = 0; i < stage; i++) this.completeStage();
    };
    switch (status) {
      case 'pending':
        break;
      case 'progressing':
        toProgressing();
        break;
      case 'baking':
        toProgressing();
        this.applyStage();
        break;
      case 'awaiting_approval':
        this.to('baking', { stage }).passGate();
        if (this.state.status !== 'awaiting_approval') {
          throw new Error(
            `stage ${stage} of this plan needs no approval (use aPlan().withApproval)`,
          );
        }
        break;
      case 'paused':
        this.to(pausedFrom, { stage }).accept({ type: 'pause', actor: this.plan.startedBy });
        break;
      case 'promoting':
        this.start();
        while (this.state.status === 'progressing') this.completeStage();
        break;
      case 'succeeded':
        this.to('promoting');
        for (const cluster of this.plan.clusters) this.accept({ type: 'promoted', cluster });
        break;
      case 'rolling_back':
        this.to('baking', { stage }).gate('fail');
        break;
      case 'rolled_back':
        this.to('rolling_back', { stage }).rollBackEverywhere();
        break;
      case 'aborted':
        this.to('baking', { stage }).accept({
          type: 'abort',
          actor: this.plan.startedBy,
          reason: 'test',
        });
        this.rollBackEverywhere();
        break;
      case 'failed':
        // No input leads to `failed` any more (a failed rollback is retried, see transition.ts):
        // this is a rollout stored as failed by an earlier version, which must still read as ended.
        this.to('rolling_back', { stage });
        this.state = {
          ...this.state,
          status: 'failed',
          outcome: 'rollback failed in ' + this.plan.clusters[0]! + ': HTTPRoute update forbidden',
        };
        break;
    }
    if (this.state.status !== status) {
      throw new Error(`driving to ${status} ended in ${this.state.status}`);
    }
    return this;
  }
}

/** A driver for `plan`, already in `status` (reached through real inputs). */
export function rolloutIn(
  status: RolloutStatus,
  plan: RolloutPlan,
  options?: { stage?: number; pausedFrom?: PausableStatus },
): RolloutDriver {
  return new RolloutDriver(plan).to(status, options);
}

/** Effects of one type, narrowed. */
export function effectsOf<T extends Effect['type']>(
  effects: readonly Effect[],
  type: T,
): Extract<Effect, { type: T }>[] {
  return effects.filter((e): e is Extract<Effect, { type: T }> => e.type === type);
}

/** The commands published, as `cluster:type` (with the stage weight for set_weight). */
export function commandsIn(effects: readonly Effect[]): string[] {
  return effectsOf(effects, 'publish_command').map((e) =>
    e.command.type === 'set_weight'
      ? `${e.cluster}:set_weight ${e.command.payload.weight}`
      : `${e.cluster}:${e.command.type}`,
  );
}

/**
 * One cluster's `health_counts` for five seconds at 1,000 req/s and 5% weight, ending at `toMs`
 * (slow requests above 300 ms counted like errors).
 */
export function healthCounts(
  cluster: string,
  toMs: number,
  canaryErrors: number,
  stableErrors = 24,
): RolloutInput {
  const interval = (requests: number, errors: number): CountedInterval => ({
    fromMs: toMs - 5_000,
    toMs,
    requests,
    errors,
    slow: [{ boundMs: 300, count: errors }],
  });
  return {
    type: 'health_counts',
    cluster,
    canary: interval(250, canaryErrors),
    stable: interval(4_750, stableErrors),
  };
}
