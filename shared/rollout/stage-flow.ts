import {
  currentStage,
  isLastStage,
  notify,
  publishToAll,
  rolloutLabel,
  stageLabel,
  targets,
  type Draft,
} from './draft.js';
import type { RolloutState } from './state.js';

/**
 * The moves several inputs share: starting a bake, advancing past a stage, rolling back and
 * ending. Each edits the draft and emits the effects that go with it.
 */

export function allApplied(state: RolloutState): boolean {
  return targets(state).every(([, c]) => c.appliedStage >= state.stageIndex);
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
  state.gate = { tick: 0, consecutiveFailures: 0, heldAlerted: false };
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
  const next = isLastStage(state) ? 'promotion' : stageLabel(state, state.stageIndex + 1);
  notify(
    draft,
    'approval_needed',
    `${rolloutLabel(state)} passed its gate at ${stageLabel(state)}; ` +
      `${approval.required} approval(s) needed before ${next} from ${approval.approvers.join(', ') || 'anyone'}${selfNote}`,
  );
}

/** Moves traffic to the next stage, or promotes after the last one. */
export function nextStage(draft: Draft): void {
  const { state } = draft;
  state.approvals = [];
  delete state.bakeStartedAt;
  if (isLastStage(state)) {
    state.status = 'promoting';
    for (const [, cluster] of targets(state)) cluster.status = 'promoting';
    publishToAll(draft, () => [{ type: 'promote', payload: { service: state.plan.service } }]);
    return;
  }
  state.stageIndex += 1;
  state.status = 'progressing';
  state.gate = { tick: 0, consecutiveFailures: 0, heldAlerted: false };
  const { weight } = currentStage(state);
  for (const [, cluster] of targets(state)) cluster.status = 'applying';
  publishToAll(draft, () => [
    {
      type: 'set_weight',
      payload: { service: state.plan.service, stageIndex: state.stageIndex, weight },
    },
  ]);
}

export type RollbackCause = NonNullable<RolloutState['rollback']>['cause'];

/** Sends traffic back to the stable version everywhere. `reason` is what people will read. */
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
  for (const [, cluster] of targets(state)) cluster.status = 'rolling_back';
  // What makes traffic safe goes first; housekeeping after (and in its own lane of the runner).
  publishToAll(draft, () => [
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
  delete state.bakeStartedAt;
  draft.effects.push({ type: 'release_lock', service: state.plan.service });
}
