import { stableVersionsLabel } from './plan.js';
import { formatDuration } from '../config/duration.js';
import {
  clusterOf,
  describeStatus,
  notNow,
  notify,
  reject,
  rolloutLabel,
  stageAt,
  stageLabel,
  startedClusters,
  startedTargets,
  targets,
  waveClusters,
  type Draft,
  type Outcome,
  type Rejection,
} from './draft.js';
import { scheduleRollbackRetry } from './rollback-retries.js';
import { allApplied, beginRollback, finish, startBake } from './stage-flow.js';
import type { ClusterState, RolloutInput, RolloutState } from './state.js';

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
  if (!waveClusters(state).includes(input.cluster)) {
    // An earlier wave's redelivered report is stale; a later wave's was never commanded.
    return startedClusters(state).includes(input.cluster)
      ? reject(
          'stale_event',
          `${reported} is stale: ${input.cluster}'s wave is done and ${rolloutLabel(state)} is at ${stageLabel(state)}`,
        )
      : reject(
          'invalid_transition',
          `${reported} was never commanded: ${input.cluster}'s wave has not started; ${rolloutLabel(state)} is at ${stageLabel(state)}`,
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
  if (!startedClusters(state).includes(input.cluster)) {
    return reject(
      'stale_event',
      `rolled_back from ${input.cluster} ignored: its wave never started, so it was never sent a rollback`,
    );
  }
  if (cluster.status === 'rolled_back') {
    return reject(
      'stale_event',
      `rolled_back from ${input.cluster} is a duplicate: it already reported it`,
    );
  }
  // A cluster whose rollback failed before has recovered: its failure is history now.
  if (cluster.status === 'failed') {
    delete cluster.failure;
    delete cluster.failedRollbacks;
  }
  cluster.status = 'rolled_back';
  cluster.weight = 0;
  // Clusters of waves never started were not touched: they are not waited for.
  if (startedTargets(state).some(([, c]) => c.status !== 'rolled_back')) return undefined;
  if (state.rollback?.cause === 'aborted') {
    finish(draft, 'aborted');
  } else {
    notify(
      draft,
      'rolled_back',
      `${rolloutLabel(state)} rolled back to ${stableVersionsLabel(state.plan, true)}: ` +
        `${state.outcome ?? 'no reason recorded'}`,
    );
    finish(draft, 'rolled_back');
  }
  return undefined;
}

/**
 * A command failed in a cluster, which leaves its traffic in doubt. Before and during the
 * rollout, roll back everywhere. A failed rollback is `onRollbackFailed`.
 */
export function onCommandFailed(draft: Draft, input: InputOf<'command_failed'>): Outcome {
  const { state } = draft;
  const cluster = clusterOf(state, input.cluster);
  if (cluster === undefined) return unknownCluster(state, input.cluster, 'command_failed');
  const what = `${input.commandType} failed in ${input.cluster}: ${input.reason}`;
  if (state.status === 'pending') return notNow(state, `accept command_failed (${what})`);
  if (!startedClusters(state).includes(input.cluster)) {
    return reject(
      'stale_event',
      `${what}; ignored, ${input.cluster}'s wave has not started and was sent nothing`,
    );
  }
  if (state.status === 'rolling_back') {
    if (input.commandType !== 'rollback') {
      return reject(
        'stale_event',
        `${what}; ignored, ${rolloutLabel(state)} is already ${describeStatus(state)}`,
      );
    }
    return onRollbackFailed(draft, input, cluster, what);
  }
  cluster.failure = input.reason;
  beginRollback(draft, 'command_failed', what);
  notify(
    draft,
    'command_failed',
    `${rolloutLabel(state)}: ${what}; rolling back everywhere to ${stableVersionsLabel(state.plan)}`,
  );
  return undefined;
}

/** How many failed rollback command ids a cluster remembers, to recognise a redelivered failure. */
const REMEMBERED_FAILURES = 10;

/**
 * A rollback failed in one cluster (the agent already retried it a few times). Giving up would
 * leave that cluster's traffic on the new version with nobody holding the service, so the rollout
 * stays `rolling_back`: the cluster is marked `failed` with the reason, the lock stays held until
 * every cluster has confirmed weight 0 (or a person force-finishes the rollout), and the rollback
 * is sent to that cluster again after a backoff that doubles from 5 s up to 5 minutes
 * (`rollbackRetryDelayMs`), through the gate scheduler (`rollback_retry`). On-call is paged on the
 * 1st, 2nd, 4th, 8th… failure of a cluster: again and again while it lasts, ever less often. A
 * later `rolled_back` from that cluster is accepted as usual.
 *
 * A failure is counted once per command: a redelivered `command_failed` (same command id) is
 * refused as `stale_event`, or every redelivery would start one more retry.
 */
function onRollbackFailed(
  draft: Draft,
  input: InputOf<'command_failed'>,
  cluster: ClusterState,
  what: string,
): Outcome {
  const { state } = draft;
  if (cluster.status === 'rolled_back') {
    return reject('stale_event', `${what}; ignored, ${input.cluster} already reported rolled_back`);
  }
  const seen = cluster.failedRollbacks ?? [];
  if (seen.includes(input.commandId)) {
    return reject(
      'stale_event',
      `${what}; a duplicate: the failure of command ${input.commandId} was counted already`,
    );
  }
  const attempts = (cluster.rollbackAttempts ?? 0) + 1;
  cluster.status = 'failed';
  cluster.failure = input.reason;
  cluster.failedRollbacks = [...seen, input.commandId].slice(-REMEMBERED_FAILURES);
  cluster.rollbackAttempts = attempts;
  const delayMs = rollbackRetryDelayMs(attempts);
  if (isPowerOfTwo(attempts)) {
    notify(
      draft,
      'rollback_failed',
      `${rolloutLabel(state)}: rollback ${what} (${attempts} failed attempt(s) in ${input.cluster}). ` +
        `Traffic in ${input.cluster} may still reach ${state.plan.version}; ` +
        `a person must look: fix what stops the rollback there (or restore ${stableVersionsLabel(state.plan)} by hand). ` +
        `The rollback is retried (next in ${formatDuration(delayMs)}), and ${state.plan.service} stays locked until it succeeds; ` +
        `if the cluster is gone for good, /rollout force-finish ${state.id} <reason> releases it`,
    );
  }
  scheduleRollbackRetry(draft, delayMs);
  return undefined;
}

/** Doubling from 5 s, capped at 5 minutes: a cluster that is down is not hammered every 4 s. */
export function rollbackRetryDelayMs(attempts: number): number {
  return Math.min(5_000 * 2 ** Math.max(0, attempts - 1), 300_000);
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}
