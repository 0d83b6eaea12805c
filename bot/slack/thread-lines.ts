import type { TransitionCause } from '../../shared/ports/notifier.js';
import { isTerminal, type RolloutState, type RolloutStatus } from '../../shared/rollout/state.js';
import { actorLabel, escapeText, literal, slackify } from './slack-text.js';

/**
 * The reply in a card's thread for one transition: who or what caused it and what it did. The
 * thread is the audit trail people read, so routine gate ticks that changed nothing (a pass
 * mid-bake, an inconclusive tick) get no line; the card shows the latest verdict instead.
 * Returns `undefined` for those, for `create` (the card itself says that) and for `unrecorded`
 * (routine transitions with no history line).
 */
export function threadLine(state: RolloutState, cause: TransitionCause): string | undefined {
  const status = cause.status ?? state.status;
  const who = actorLabel(cause.actor);
  const detail = cause.detail ? slackify(cause.detail) : '';
  let line: string | undefined;
  switch (cause.input) {
    case 'create':
    case 'unrecorded':
      return undefined;
    case 'start':
      line = `:arrow_forward: ${who} started the rollout: ${state.plan.stages.map((s) => `${s.weight}%`).join(' → ')} in ${whereText(state)}`;
      break;
    case 'approve':
      line = `:white_check_mark: ${who} approved${status === 'awaiting_approval' ? '; more approvals are needed' : '; going on'}`;
      break;
    case 'pause':
      line = `:double_vertical_bar: ${who} paused the rollout`;
      break;
    case 'resume':
      line = `:arrow_forward: ${who} resumed the rollout`;
      break;
    case 'promote_held':
      line = `:rocket: release ${escapeText(state.plan.releaseId ?? '')} promotes it`;
      break;
    case 'widen_held':
      line = `:arrow_forward: release ${escapeText(state.plan.releaseId ?? '')} lets it widen: its contract check passed`;
      break;
    case 'abort':
      // The detail of an abort is the reason as the person typed it.
      line = `:no_entry: ${who} aborted the rollout${cause.detail ? `: ${literal(cause.detail)}` : ''}; rolling back`;
      break;
    case 'stage_applied':
      line = `:arrows_counterclockwise: ${detail || who}${status === 'baking' ? ' · every cluster is there, baking' : ''}`;
      break;
    case 'promoted':
      line = `:rocket: ${escapeText(cause.detail ?? '')} runs \`${escapeText(state.plan.version)}\` as stable`;
      break;
    case 'rolled_back':
      line = `:rewind: ${escapeText(cause.detail ?? '')} is back on \`${escapeText(state.plan.stableVersion)}\``;
      break;
    case 'command_failed':
      // A failed rollback is retried until it lands, every few seconds: its first failure is the
      // `rollback_failed` alert (in this thread, paging on-call) and the card shows the cluster;
      // a line per retry would bury the thread.
      if (cause.detail?.includes(': rollback failed:')) return undefined;
      line = `:warning: ${detail}`;
      break;
    case 'gate_result':
      line = gateLine(status, cause.detail ?? '', newWave(state, status));
      break;
    case 'gate_lost':
      line = `:repeat: the gate's next evaluation was lost; ${who} scheduled a new one`;
      break;
    case 'approval_reminder':
    case 'approval_overdue':
      // Their alerts are posted in this thread; an abort it caused shows on the card.
      return undefined;
    case 'rollback_retry':
      // Retries of a failing rollback: the rollback_failed alerts in this thread tell people.
      return undefined;
    case 'force_finish':
      line = `:octagonal_sign: ${who} force-finished the rollback${cause.detail ? `: ${literal(cause.detail)}` : ''}; the service is released`;
      break;
    case 'health_counts':
      // Counts arrive with every sample: a line only when the sequential judge decided.
      if (status === 'rolling_back') {
        line = `:rotating_light: ${slackify(state.outcome ?? 'a sequential check is breached')}; rolling back`;
      } else if (
        status === 'progressing' ||
        status === 'promoting' ||
        status === 'awaiting_approval'
      ) {
        line =
          ':fast_forward: The sequential checks ended the stage early: the canary is no worse than stable within the tolerance';
      }
      break;
    default: {
      const never: never = cause.input;
      line = `${who}: ${String(never)}`;
    }
  }
  if (line === undefined) return undefined;
  return isTerminal(status) ? `${line}\n${ENDING[status as Terminal]}` : line;
}

type Terminal = Extract<RolloutStatus, 'succeeded' | 'rolled_back' | 'aborted' | 'failed'>;
const ENDING: Record<Terminal, string> = {
  succeeded: ':white_check_mark: *The rollout succeeded.*',
  rolled_back: ':leftwards_arrow_with_hook: *The rollout was rolled back.*',
  aborted: ':no_entry: *The rollout was aborted.*',
  failed: ':x: *The rollout failed: a person must restore traffic.*',
};

/** `eu-west, us-east`, or for a rollout of several waves `waves staging → eu-west → us-east, ap-south`. */
function whereText(state: RolloutState): string {
  const { waves } = state.plan;
  return waves === undefined
    ? state.plan.clusters.join(', ')
    : `waves ${waves.map((w) => w.join(', ')).join(' → ')}`;
}

/** `starting wave 2/3 (eu-west)` when this transition started a wave after the first. */
function newWave(state: RolloutState, status: RolloutStatus): string | undefined {
  const { waves } = state.plan;
  const index = state.waveIndex ?? 0;
  if (waves === undefined || index === 0 || status !== 'progressing' || state.stageIndex !== 0) {
    return undefined;
  }
  return `starting wave ${index + 1}/${waves.length} (${(waves[index] ?? []).join(', ')})`;
}

function gateLine(
  status: RolloutStatus,
  detail: string,
  wave: string | undefined,
): string | undefined {
  const [outcome = ''] = detail.split(':', 1);
  const summary = slackify(detail.slice(outcome.length + 1).trim());
  switch (outcome) {
    case 'pass':
      if (status === 'baking') return undefined;
      return `:white_check_mark: The gate passed (${summary}); ${wave ?? NEXT[status] ?? status.replace('_', ' ')}`;
    case 'failing':
      return `:warning: The gate failed an evaluation: ${summary}`;
    case 'fail':
      return `:rotating_light: The gate is breached: ${summary}; rolling back`;
    default:
      // Inconclusive ticks repeat every interval; the card and the held-alert say enough.
      return status === 'baking' ? undefined : `The gate said ${escapeText(detail)}`;
  }
}

const NEXT: Partial<Record<RolloutStatus, string>> = {
  progressing: 'moving to the next stage',
  awaiting_approval: 'waiting for approval',
  promoting: 'promoting',
  held: 'holding at 100% until the release promotes it',
};
