import {
  clusterOf,
  describeStatus,
  notNow,
  notify,
  reject,
  rolloutLabel,
  stageAt,
  stageLabel,
  targets,
  type Draft,
  type Outcome,
  type Rejection,
} from './draft.js';
import { allApplied, beginRollback, finish, startBake } from './stage-flow.js';
import type { RolloutInput, RolloutState } from './state.js';

/**
 * What agents report: a stage applied, a promotion or rollback done, a command that failed.
 * Delivery is at least once, so a duplicate is refused as `stale_event` (never applied twice),
 * and an event from a cluster outside the plan as `unknown_cluster`.
 */

type InputOf<T extends RolloutInput['type']> = Extract<RolloutInput, { type: T }>;

function unknownCluster(state: RolloutState, name: string, event: string): Rejection {
  return reject(
    'unknown_cluster',
    `${event} from ${name}, which is not a target of ${rolloutLabel(state)} (targets: ${state.plan.clusters.join(', ')})`,
  );
}

export function onStageApplied(draft: Draft, input: InputOf<'stage_applied'>): Outcome {
  const { state } = draft;
  const cluster = clusterOf(state, input.cluster);
  if (cluster === undefined) return unknownCluster(state, input.cluster, 'stage_applied');
  const reported = `stage_applied from ${input.cluster} for ${stageLabel(state, input.stageIndex)}`;
  if (state.status === 'pending') return notNow(state, `accept ${reported}`);
  if (state.status === 'rolling_back') {
    return reject(
      'stale_event',
      `${reported} ignored: ${rolloutLabel(state)} is ${describeStatus(state)}`,
    );
  }
  if (input.stageIndex < state.stageIndex) {
    return reject(
      'stale_event',
      `${reported} is stale: ${rolloutLabel(state)} is at ${stageLabel(state)}`,
    );
  }
  if (input.stageIndex > state.stageIndex) {
    return reject(
      'invalid_transition',
      `${reported} was never commanded: ${rolloutLabel(state)} is at ${stageLabel(state)}`,
    );
  }
  if (cluster.appliedStage >= input.stageIndex) {
    return reject(
      'stale_event',
      `${reported} is a duplicate: ${input.cluster} already reported it`,
    );
  }
  const expected = stageAt(state, input.stageIndex).weight;
  if (input.weight !== expected) {
    return reject(
      'invalid_transition',
      `${reported} says weight ${input.weight}%, but the stage commands ${expected}%`,
    );
  }
  const receiving =
    state.status === 'progressing' ||
    (state.status === 'paused' && state.pausedFrom === 'progressing');
  if (!receiving) return notNow(state, `accept ${reported}`);
  cluster.status = 'applied';
  cluster.weight = input.weight;
  cluster.appliedStage = input.stageIndex;
  // While paused the cluster is recorded but the bake waits for resume.
  if (state.status === 'progressing' && allApplied(state)) startBake(draft);
  return undefined;
}

export function onPromoted(draft: Draft, input: InputOf<'promoted'>): Outcome {
  const { state } = draft;
  const cluster = clusterOf(state, input.cluster);
  if (cluster === undefined) return unknownCluster(state, input.cluster, 'promoted');
  if (state.status !== 'promoting') return notNow(state, `accept promoted from ${input.cluster}`);
  if (cluster.status === 'promoted') {
    return reject(
      'stale_event',
      `promoted from ${input.cluster} is a duplicate: it already reported it`,
    );
  }
  cluster.status = 'promoted';
  cluster.weight = 100;
  if (targets(state).every(([, c]) => c.status === 'promoted')) {
    state.outcome = `${state.plan.version} is stable in ${state.plan.clusters.join(', ')}`;
    finish(draft, 'succeeded');
  }
  return undefined;
}

export function onRolledBack(draft: Draft, input: InputOf<'rolled_back'>): Outcome {
  const { state } = draft;
  const cluster = clusterOf(state, input.cluster);
  if (cluster === undefined) return unknownCluster(state, input.cluster, 'rolled_back');
  if (state.status !== 'rolling_back')
    return notNow(state, `accept rolled_back from ${input.cluster}`);
  if (cluster.status === 'rolled_back') {
    return reject(
      'stale_event',
      `rolled_back from ${input.cluster} is a duplicate: it already reported it`,
    );
  }
  cluster.status = 'rolled_back';
  cluster.weight = 0;
  if (targets(state).some(([, c]) => c.status !== 'rolled_back')) return undefined;
  if (state.rollback?.cause === 'aborted') {
    finish(draft, 'aborted');
  } else {
    notify(
      draft,
      'rolled_back',
      `${rolloutLabel(state)} rolled back to ${state.plan.stableVersion} in ${state.plan.clusters.join(', ')}: ` +
        `${state.outcome ?? 'no reason recorded'}`,
    );
    finish(draft, 'rolled_back');
  }
  return undefined;
}

/**
 * A command failed in a cluster, which leaves its traffic in doubt. Before and during the
 * rollout, roll back everywhere. If the rollback itself failed, the machine can do no more: the
 * rollout ends `failed` and a person must restore that cluster.
 */
export function onCommandFailed(draft: Draft, input: InputOf<'command_failed'>): Outcome {
  const { state } = draft;
  const cluster = clusterOf(state, input.cluster);
  if (cluster === undefined) return unknownCluster(state, input.cluster, 'command_failed');
  const what = `${input.commandType} failed in ${input.cluster}: ${input.reason}`;
  if (state.status === 'pending') return notNow(state, `accept command_failed (${what})`);
  if (state.status === 'rolling_back') {
    if (input.commandType !== 'rollback') {
      return reject(
        'stale_event',
        `${what}; ignored, ${rolloutLabel(state)} is already ${describeStatus(state)}`,
      );
    }
    if (cluster.status === 'rolled_back') {
      return reject(
        'stale_event',
        `${what}; ignored, ${input.cluster} already reported rolled_back`,
      );
    }
    cluster.status = 'failed';
    cluster.failure = input.reason;
    state.outcome = `rollback ${what}`;
    notify(
      draft,
      'rollback_failed',
      `${rolloutLabel(state)}: rollback ${what}. Traffic in ${input.cluster} may still reach ${state.plan.version}; ` +
        `a person must restore ${state.plan.stableVersion} there by hand`,
    );
    finish(draft, 'failed');
    return undefined;
  }
  cluster.failure = input.reason;
  beginRollback(draft, 'command_failed', what);
  notify(
    draft,
    'command_failed',
    `${rolloutLabel(state)}: ${what}; rolling back everywhere to ${state.plan.stableVersion}`,
  );
  return undefined;
}
