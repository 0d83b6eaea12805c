import { stableVersionsLabel } from './plan.js';
import {
  clustersWhere,
  describeStatus,
  notify,
  publishTo,
  reject,
  rolloutLabel,
  type Draft,
  type Outcome,
} from './draft.js';
import { finish } from './stage-flow.js';
import type { RolloutInput } from './state.js';

/**
 * Rollbacks that do not finish: retried on a timer with backoff, and released by a person when a
 * cluster is gone for good.
 */

type InputOf<T extends RolloutInput['type']> = Extract<RolloutInput, { type: T }>;

/**
 * Sets the retry timer of failed rollbacks: one timer for the rollout (the gate scheduler's next
 * tick, unused while rolling back) that retries every failed cluster when it fires. A later
 * failure moves it only sooner, never later: a cluster's first failure (5 s) is not held up by
 * another cluster's tenth (5 minutes).
 */
export function scheduleRollbackRetry(draft: Draft, delayMs: number): void {
  const { state } = draft;
  const dueAt = draft.now + delayMs;
  // A timer that fires sooner stays: it retries this cluster too (every failed one is retried).
  if (state.gate.retryDueAt !== undefined && state.gate.retryDueAt <= dueAt) return;
  state.gate.tick += 1;
  state.gate.scheduledAt = draft.now;
  state.gate.retryDueAt = dueAt;
  draft.effects.push({
    type: 'schedule_gate',
    stageIndex: state.stageIndex,
    tick: state.gate.tick,
    delayMs,
  });
}

/** The retry timer fired: every cluster whose rollback failed gets it again, with a new seq. */
export function onRollbackRetry(draft: Draft, input: InputOf<'rollback_retry'>): Outcome {
  const { state } = draft;
  if (state.status !== 'rolling_back' || input.tick !== state.gate.tick) {
    return reject(
      'stale_event',
      `rollback retry ${input.tick} ignored: ${rolloutLabel(state)} is ${describeStatus(state)}`,
    );
  }
  delete state.gate.retryDueAt;
  const failed = clustersWhere(state, (c) => c.status === 'failed');
  if (failed.length === 0) {
    return reject('stale_event', `rollback retry ignored: no cluster of ${state.id} is failing`);
  }
  for (const cluster of failed) {
    state.clusters[cluster]!.status = 'rolling_back';
    publishTo(draft, cluster, {
      type: 'rollback',
      payload: { service: state.plan.service, reason: state.outcome ?? 'rollback' },
    });
  }
  return undefined;
}

/**
 * A person ends a rollback that cannot finish, knowing the clusters not back on the stable
 * version are left as they are: the rollout ends `failed`, the service is released, and on-call is
 * told which clusters a person must restore by hand. Only while rolling back.
 */
export function onForceFinish(draft: Draft, input: InputOf<'force_finish'>): Outcome {
  const { state } = draft;
  if (state.status !== 'rolling_back') {
    return reject(
      'invalid_transition',
      `force-finish is only for a rollback that cannot finish; ${rolloutLabel(state)} is ${describeStatus(state)}` +
        (state.status === 'baking' || state.status === 'progressing' || state.status === 'paused'
          ? '. Abort it instead'
          : ''),
    );
  }
  state.forceFinished = { actor: input.actor, reason: input.reason };
  const left = clustersWhere(state, (c) => c.status !== 'rolled_back');
  const where = left.length > 0 ? left.join(', ') : 'none';
  state.outcome =
    `force-finished by ${input.actor}: ${input.reason}; ` +
    `not confirmed back on ${stableVersionsLabel(state.plan)}: ${where}`;
  notify(
    draft,
    'rollback_failed',
    `${rolloutLabel(state)} was force-finished by ${input.actor} (${input.reason}) before every cluster confirmed ` +
      `the rollback. ${left.length > 0 ? `${where} may still serve ${state.plan.version}: restore ${stableVersionsLabel(state.plan)} there by hand.` : ''} ` +
      `${state.plan.service} is released for new rollouts.`,
  );
  finish(draft, 'failed');
  return undefined;
}
