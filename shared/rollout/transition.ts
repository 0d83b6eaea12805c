import { RolloutError } from '../errors.js';
import { onCommandFailed, onPromoted, onRolledBack, onStageApplied } from './agent-events.js';
import { describeStatus, reject, rolloutLabel, type Draft, type Outcome } from './draft.js';
import { onGateLost, onGateResult } from './gate-results.js';
import { onHealthCounts } from './judge-counts.js';
import { onApprovalOverdue, onApprovalReminder } from './approval-timeouts.js';
import { onForceFinish, onRollbackRetry } from './rollback-retries.js';
import { planProblems, type RolloutPlan } from './plan.js';
import {
  isTerminal,
  type ClusterState,
  type RolloutInput,
  type RolloutState,
  type TransitionResult,
} from './state.js';
import {
  onAbort,
  onApprove,
  onPause,
  onPromoteHeld,
  onResume,
  onStart,
  onWidenHeld,
} from './user-actions.js';
import { reportToRelease } from './release-reports.js';

/**
 * The rollout state machine: a pure reducer. No clock, randomness or I/O; `now` is passed in.
 *
 * Every accepted input returns a new state whose `version` is one more and whose `updatedAt` is
 * `now`, plus the effects to carry out (commands, gate jobs, alerts), always ending with
 * `update_card`: everything accepted changes what the card shows, and the runner coalesces.
 * Every refused input returns `{ ok: false, code, reason }` with no state, and the reason says
 * where the rollout stands and what is possible now.
 *
 * Command seqs: one per published message (`state.seq + 1, + 2, …` in plan-cluster order), so
 * they strictly increase across a rollout's whole effect history.
 *
 * Rolling back never gives up. A rollback is what makes traffic safe, and ending the rollout
 * would free the service's lock while a cluster may still send traffic to the new version. So a
 * `command_failed` for a rollback (the agent already retried it a few times) keeps the rollout
 * `rolling_back`: that cluster is marked `failed` with the reason, `rollback_failed` is alerted
 * once per cluster (naming cluster and reason: a person must look), and `rollback` is sent to that
 * cluster again with a new seq, after every failure, so it keeps trying. The lock is held until
 * every cluster has confirmed weight 0 with `rolled_back`, which is accepted from a failed cluster
 * like from any other; the rollout then ends `rolled_back` or `aborted` as usual. A redelivered
 * failure (same command id) is refused as `stale_event`, so it cannot start a second retry loop.
 * This is also why an abort while `promoting` is safe: a cluster already promoted rolls back too,
 * and routers restore the version stable before the rollout (see `TrafficRouter.rollback`).
 *
 * Nothing leads to `failed` any more. It stays a terminal status so that rollouts stored as
 * failed by earlier versions still read as ended; if a way out of a rollback that can never
 * succeed is added (a cluster gone for good), it is a person's explicit decision, and `failed` is
 * the status it would end in.
 *
 * A multi-service release (`plan.releaseId`) is a coordinator over several of these rollouts, one
 * per service, each with its own state, lock and card (shared/release/transition.ts). A member
 * holds before its promotion (`plan.holdBeforePromote`) and reports how far it got
 * (`report_to_release`); nothing else here knows about releases.
 */
export function transition(
  state: RolloutState,
  input: RolloutInput,
  now: number,
): TransitionResult {
  if (isTerminal(state.status)) {
    return reject(
      'terminal',
      `${input.type} ignored: ${rolloutLabel(state)} has ended, ${describeStatus(state)}; start a new rollout to change anything`,
    );
  }
  const draft: Draft = { state: structuredClone(state), effects: [], now };
  const refused = apply(draft, input);
  if (refused !== undefined) return refused;
  draft.state.version = state.version + 1;
  draft.state.updatedAt = now;
  reportToRelease(state, draft);
  draft.effects.push({ type: 'update_card' });
  return { ok: true, state: draft.state, effects: draft.effects };
}

function apply(draft: Draft, input: RolloutInput): Outcome {
  switch (input.type) {
    case 'start':
      return onStart(draft);
    case 'approve':
      return onApprove(draft, input);
    case 'pause':
      return onPause(draft);
    case 'resume':
      return onResume(draft);
    case 'abort':
      return onAbort(draft, input);
    case 'promote_held':
      return onPromoteHeld(draft);
    case 'widen_held':
      return onWidenHeld(draft);
    case 'stage_applied':
      return onStageApplied(draft, input);
    case 'promoted':
      return onPromoted(draft, input);
    case 'rolled_back':
      return onRolledBack(draft, input);
    case 'command_failed':
      return onCommandFailed(draft, input);
    case 'gate_result':
      return onGateResult(draft, input);
    case 'gate_lost':
      return onGateLost(draft, input);
    case 'rollback_retry':
      return onRollbackRetry(draft, input);
    case 'approval_reminder':
      return onApprovalReminder(draft, input);
    case 'approval_overdue':
      return onApprovalOverdue(draft, input);
    case 'force_finish':
      return onForceFinish(draft, input);
    case 'health_counts':
      return onHealthCounts(draft, input);
    default: {
      const never: never = input;
      throw new Error(`unknown rollout input ${JSON.stringify(never)}`);
    }
  }
}

/**
 * A new rollout, not started: every target cluster pending at weight 0. Throws `invalid_plan`
 * when the plan breaks a stage rule (a parsed `RolloutPlan` never does).
 */
/** `fence`: the service's fencing number for this rollout (`ServiceLocks.nextFence`). */
export function createRollout(
  id: string,
  plan: RolloutPlan,
  now: number,
  fence?: number,
): RolloutState {
  const problems = planProblems(plan);
  if (problems.length > 0) {
    throw new RolloutError(
      'invalid_plan',
      `rollout ${id}: ${problems.map((p) => p.message).join('; ')}`,
    );
  }
  const clusters: Record<string, ClusterState> = {};
  for (const name of plan.clusters)
    clusters[name] = { status: 'pending', weight: 0, appliedStage: -1 };
  return {
    id,
    version: 0,
    plan,
    status: 'pending',
    stageIndex: 0,
    seq: 0,
    ...(fence !== undefined && { fence }),
    clusters,
    approvals: [],
    gate: { tick: 0, consecutiveFailures: 0, heldAlerted: false },
    createdAt: now,
    updatedAt: now,
  };
}
