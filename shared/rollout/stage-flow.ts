import {
  currentStage,
  holdsBeforeWidening,
  isLastStage,
  isLastWave,
  notify,
  publishToEach,
  rolloutLabel,
  stageLabel,
  startedClusters,
  startedTargets,
  targets,
  waveClusters,
  waveIndexOf,
  wavesOf,
  waveTargets,
  type Draft,
} from './draft.js';
import { stableVersionIn, type RolloutPlan } from './plan.js';
import type { RolloutState } from './state.js';

/**
 * The moves several inputs share: starting a bake, advancing past a stage, rolling back and
 * ending. Each edits the draft and emits the effects that go with it.
 */

/** Every cluster of the current wave confirmed the current stage. */
export function allApplied(state: RolloutState): boolean {
  return waveTargets(state).every(([, c]) => c.appliedStage >= state.stageIndex);
}

/**
 * The gate tick a stage's count starts from. One wave: 0 (ticks restart at 1 each stage). Several
 * waves: they keep counting, because the scheduler runs each (rollout, stage, tick) at most once and
 * every wave runs stage 0 again.
 */
function firstTick(state: RolloutState): number {
  return wavesOf(state).length > 1 ? state.gate.tick : 0;
}

/**
 * The current wave begins at stage 0: its clusters get `start`, then the first `set_weight`.
 * Earlier waves are left at 100% of the new version (their agents wait for `promote`).
 */
export function startWave(draft: Draft): void {
  const { state } = draft;
  const { plan } = state;
  state.status = 'progressing';
  state.stageIndex = 0;
  for (const [, cluster] of waveTargets(state)) cluster.status = 'applying';
  const first = currentStage(state);
  publishToEach(draft, waveClusters(state), (cluster) => [
    {
      type: 'start',
      payload: {
        service: plan.service,
        version: plan.version,
        // Each cluster's own: a rollback there returns to what that cluster ran.
        stableVersion: stableVersionIn(plan, cluster),
        strategy: plan.strategy,
        stages: plan.stages,
        ...(plan.mirrorPercent !== undefined && { mirrorPercent: plan.mirrorPercent }),
        ...dependentsIn(plan, cluster),
      },
    },
    { type: 'set_weight', payload: { service: plan.service, stageIndex: 0, weight: first.weight } },
  ]);
}

/** Asks for the next evaluation of the current stage's gate (see `gate.tick` in state.ts). */
export function scheduleNextTick(draft: Draft): void {
  const { state } = draft;
  state.gate.tick += 1;
  state.gate.scheduledAt = draft.now;
  draft.effects.push({
    type: 'schedule_gate',
    stageIndex: state.stageIndex,
    tick: state.gate.tick,
    delayMs: currentStage(state).gate.intervalMs,
  });
}

/** Every target cluster applied the current stage: its bake and gate begin from scratch. */
export function startBake(draft: Draft): void {
  const { state } = draft;
  state.status = 'baking';
  state.bakeStartedAt = draft.now;
  state.gate = { tick: firstTick(state), consecutiveFailures: 0, heldAlerted: false };
  scheduleNextTick(draft);
}

export function bakeIsOver(draft: Draft): boolean {
  const started = draft.state.bakeStartedAt ?? draft.now;
  return draft.now - started >= currentStage(draft.state).bakeMs;
}

/**
 * The current stage's gate passed after its bake. If the stage asks for approval, ask now:
 * approval comes after the evidence, before traffic moves on (on the last stage it gates the
 * promotion). Otherwise move on.
 */
export function afterGatePassed(draft: Draft): void {
  const { state } = draft;
  const approval = currentStage(state).gate.approval;
  if (approval === undefined) {
    nextStage(draft);
    return;
  }
  state.status = 'awaiting_approval';
  state.approvals = [];
  state.approvalRequestedAt = draft.now;
  const selfNote = approval.allowSelfApproval
    ? ''
    : ` (not ${state.plan.startedBy}, who started it)`;
  const next = !isLastStage(state)
    ? stageLabel(state, state.stageIndex + 1)
    : isLastWave(state)
      ? 'promotion'
      : `wave ${waveIndexOf(state) + 2}/${wavesOf(state).length}`;
  notify(
    draft,
    'approval_needed',
    `${rolloutLabel(state)} passed its gate at ${stageLabel(state)}; ` +
      `${approval.required} approval(s) needed before ${next} from ${approval.approvers.join(', ') || 'anyone'}${selfNote}`,
  );
}

/**
 * Moves the current wave's traffic to the next stage; after its last stage (100%), starts the
 * next wave at stage 0; after the last stage of the last wave, promotes everywhere.
 */
export function nextStage(draft: Draft, { widenNow = false } = {}): void {
  const { state } = draft;
  state.approvals = [];
  delete state.bakeStartedAt;
  if (!widenNow && holdsBeforeWidening(state)) {
    startHold(draft);
    return;
  }
  if (isLastStage(state) && isLastWave(state)) {
    // A release member waits at 100% for the release (see `RolloutPlan.holdBeforePromote`).
    if (state.plan.holdBeforePromote === true) startHold(draft);
    else promoteEverywhere(draft);
    return;
  }
  state.gate = { tick: firstTick(state), consecutiveFailures: 0, heldAlerted: false };
  if (isLastStage(state)) {
    state.waveIndex = waveIndexOf(state) + 1;
    startWave(draft);
    return;
  }
  state.stageIndex += 1;
  state.status = 'progressing';
  const { weight } = currentStage(state);
  for (const [, cluster] of waveTargets(state)) cluster.status = 'applying';
  publishToEach(draft, waveClusters(state), () => [
    {
      type: 'set_weight',
      payload: { service: state.plan.service, stageIndex: state.stageIndex, weight },
    },
  ]);
}

/**
 * A release member reached 100% of the new version in every wave (or its first stage, before
 * widening): it waits there for its release,
 * and its last stage's gate keeps judging it every interval until then (a late regression rolls it
 * back, which the release sees as the member failing). The tick count goes on from the bake's: the
 * scheduler runs each (rollout, stage, tick) at most once, and the last stage's ticks so far ran.
 */
function startHold(draft: Draft): void {
  const { state } = draft;
  state.status = 'held';
  state.gate = { ...state.gate, consecutiveFailures: 0, heldAlerted: false };
  scheduleNextTick(draft);
}

/** Every cluster of every wave is told to make the new version stable. */
export function promoteEverywhere(draft: Draft): void {
  const { state } = draft;
  state.status = 'promoting';
  for (const [, cluster] of targets(state)) cluster.status = 'promoting';
  publishToEach(draft, state.plan.clusters, () => [
    { type: 'promote', payload: { service: state.plan.service } },
  ]);
}

export type RollbackCause = NonNullable<RolloutState['rollback']>['cause'];

/**
 * Sends traffic back to the stable version in every cluster of every wave started so far (later
 * waves were never touched). `reason` is what people will read.
 */
export function beginRollback(
  draft: Draft,
  cause: RollbackCause,
  reason: string,
  actor?: string,
): void {
  const { state } = draft;
  state.status = 'rolling_back';
  state.outcome = reason;
  state.rollback = actor === undefined ? { cause } : { cause, actor };
  delete state.pausedFrom;
  delete state.pausedAt;
  for (const [, cluster] of startedTargets(state)) cluster.status = 'rolling_back';
  // What makes traffic safe goes first; housekeeping after (and in its own lane of the runner).
  publishToEach(draft, startedClusters(state), () => [
    { type: 'rollback', payload: { service: state.plan.service, reason } },
  ]);
  draft.effects.push({ type: 'cancel_gates' });
}

/** Ends the rollout. Every terminal status releases the service's lock exactly once. */
export function finish(
  draft: Draft,
  status: 'succeeded' | 'rolled_back' | 'aborted' | 'failed',
): void {
  const { state } = draft;
  state.status = status;
  delete state.pausedFrom;
  delete state.pausedAt;
  delete state.bakeStartedAt;
  draft.effects.push({ type: 'release_lock', service: state.plan.service });
}

/** The consumers the agent of `cluster` measures for the rollout (`StartPayload.dependents`). */
function dependentsIn(plan: RolloutPlan, cluster: string): { dependents?: string[] } {
  const here = (plan.dependents ?? []).filter((d) => d.clusters.includes(cluster));
  return here.length > 0 ? { dependents: here.map((d) => d.service) } : {};
}
