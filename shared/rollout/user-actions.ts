import {
  currentStage,
  describeStatus,
  holdsBeforeWidening,
  notNow,
  publishToEach,
  reject,
  rolloutLabel,
  stageLabel,
  startedClusters,
  type Draft,
  type Outcome,
} from './draft.js';
import {
  allApplied,
  beginRollback,
  finish,
  nextStage,
  promoteEverywhere,
  scheduleNextTick,
  startBake,
  startWave,
} from './stage-flow.js';
import type { RolloutInput } from './state.js';

/** What people do from Slack: start, approve, pause, resume, abort. */

type InputOf<T extends RolloutInput['type']> = Extract<RolloutInput, { type: T }>;

/**
 * pending → progressing at stage 0: every cluster of the first wave (all of them for a plan of one
 * wave) gets `start`, then the first `set_weight`.
 */
export function onStart(draft: Draft): Outcome {
  const { state } = draft;
  if (state.status !== 'pending') return notNow(state, 'start');
  startWave(draft);
  return undefined;
}

/**
 * Records one approval of the current stage. The approver must be listed (as a user or through
 * one of their groups), may not be the starter under four-eyes, and counts once.
 */
export function onApprove(draft: Draft, input: InputOf<'approve'>): Outcome {
  const { state } = draft;
  if (state.status !== 'awaiting_approval') return notNow(state, 'approve');
  const rule = currentStage(state).gate.approval;
  if (rule === undefined) return notNow(state, 'approve (this stage needs no approval)');
  const where = `${stageLabel(state)} of ${rolloutLabel(state)}`;
  const who = [input.actor, ...(input.groups ?? [])];
  // An empty list means anyone (four-eyes still applies below).
  if (rule.approvers.length > 0 && !who.some((id) => rule.approvers.includes(id))) {
    return reject(
      'not_permitted',
      `${input.actor} may not approve ${where}: approvers are ${rule.approvers.join(', ')}`,
    );
  }
  if (!rule.allowSelfApproval && input.actor === state.plan.startedBy) {
    return reject(
      'four_eyes',
      `${input.actor} started ${rolloutLabel(state)} and cannot approve it (four-eyes); ` +
        `ask another approver: ${rule.approvers.join(', ') || 'anyone else'}`,
    );
  }
  if (state.approvals.includes(input.actor)) {
    return reject(
      'already_approved',
      `${input.actor} already approved ${where}; ${state.approvals.length} of ${rule.required} approvals so far, ` +
        'the rest must come from someone else',
    );
  }
  state.approvals.push(input.actor);
  if (state.approvals.length >= rule.required) nextStage(draft);
  // Short of enough approvals: reminders count from this one (someone is on it).
  else state.approvalRequestedAt = draft.now;
  return undefined;
}

/** The release promotes a member that holds at 100% of the new version. */
export function onPromoteHeld(draft: Draft): Outcome {
  if (draft.state.status !== 'held' || holdsBeforeWidening(draft.state)) {
    return notNow(draft.state, 'promote (it is not holding at 100%)');
  }
  // Its gate watched the hold; promoted, there is nothing left to judge.
  draft.effects.push({ type: 'cancel_gates' });
  promoteEverywhere(draft);
  return undefined;
}

/**
 * The release's contract check let a member holding before its widening go on: it moves to its
 * next stage as if its gate had just passed (the gate kept judging it while it held).
 */
export function onWidenHeld(draft: Draft): Outcome {
  if (draft.state.status !== 'held' || !holdsBeforeWidening(draft.state)) {
    return notNow(draft.state, 'widen (it is not holding before its widening)');
  }
  nextStage(draft, { widenNow: true });
  return undefined;
}

/** Holds the rollout where it is: no gate runs and agents are told to pause. */
export function onPause(draft: Draft): Outcome {
  const { state } = draft;
  if (
    state.status !== 'progressing' &&
    state.status !== 'baking' &&
    state.status !== 'awaiting_approval'
  ) {
    return notNow(state, 'pause');
  }
  state.pausedFrom = state.status;
  state.pausedAt = draft.now;
  state.status = 'paused';
  draft.effects.push({ type: 'cancel_gates' });
  publishToEach(draft, startedClusters(state), () => [
    { type: 'pause', payload: { service: state.plan.service } },
  ]);
  return undefined;
}

/**
 * Returns to where the pause began. A bake starts over (the time before the pause no longer
 * counts) but its gate ticks keep counting and its failure streak is kept: pausing is not a
 * way to wipe a failing gate. If every cluster applied the stage while paused, the bake starts.
 */
export function onResume(draft: Draft): Outcome {
  const { state } = draft;
  if (state.status !== 'paused' || state.pausedFrom === undefined) return notNow(state, 'resume');
  const from = state.pausedFrom;
  delete state.pausedFrom;
  delete state.pausedAt;
  publishToEach(draft, startedClusters(state), () => [
    { type: 'resume', payload: { service: state.plan.service } },
  ]);
  switch (from) {
    case 'baking':
      state.status = 'baking';
      state.bakeStartedAt = draft.now;
      scheduleNextTick(draft);
      break;
    case 'progressing':
      state.status = 'progressing';
      if (allApplied(state)) startBake(draft);
      break;
    case 'awaiting_approval':
      state.status = 'awaiting_approval';
      // The wait begins again: a pause is not the approvers' delay.
      state.approvalRequestedAt = draft.now;
      break;
  }
  return undefined;
}

/**
 * How the outcome of an abort begins; the rest is the person's words as typed, which renderers
 * must show literally (they may hold anything, mentions included).
 */
export function abortOutcomePrefix(actor: string): string {
  return `aborted by ${actor}: `;
}

/**
 * A person stops the rollout. Before `start` nothing was sent, so it ends at once; otherwise every
 * cluster rolls back and the rollout ends `aborted` when all confirm.
 */
export function onAbort(draft: Draft, input: InputOf<'abort'>): Outcome {
  const { state } = draft;
  if (state.status === 'rolling_back') {
    return reject(
      'invalid_transition',
      `cannot abort: ${rolloutLabel(state)} is already ${describeStatus(state)}; waiting for the clusters to confirm`,
    );
  }
  const why = input.reason.trim() === '' ? 'no reason given' : input.reason.trim();
  const reason = `${abortOutcomePrefix(input.actor)}${why}`;
  if (state.status === 'pending') {
    state.outcome = reason;
    state.rollback = { cause: 'aborted', actor: input.actor };
    finish(draft, 'aborted');
    return undefined;
  }
  beginRollback(draft, 'aborted', reason, input.actor);
  return undefined;
}
