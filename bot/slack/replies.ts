import { formatDuration } from '../../shared/config/duration.js';
import type { ServicePolicy } from '../../shared/config/policy.js';
import { isRolloutError } from '../../shared/errors.js';
import type { RolloutPlan } from '../../shared/rollout/plan.js';
import type { RolloutState } from '../../shared/rollout/state.js';
import { cardText, describeStatus, gateTerms, stableVersionsText } from './card.js';
import { USAGE } from './command-parser.js';
import { versionOrderNote } from '../start-checks.js';
import { SEQUENTIAL_HELP } from './evidence-lines.js';
import { outcomeText } from './rollout-text.js';
import {
  escapeText,
  literal,
  mention,
  slackify,
  slackifyQuoting,
  slackTime,
  type Quote,
} from './slack-text.js';

/** The text of the ephemeral replies to `/rollout`. Pure. */

export function helpText(): string {
  return [
    '*/rollout* — staged rollouts from Slack',
    `• \`${USAGE.start}\``,
    '    plan a rollout from the service’s policy and start it; `--dry-run` shows the plan and starts nothing',
    '    the stable version itself is refused, an older one needs `--allow-downgrade`; version ≤ 128 characters, reason ≤ 500',
    `• \`${USAGE.release}\``,
    '    start a release of several services, providers before consumers (the policy’s `dependsOn`): each holds at 100% until all do, then all are promoted; a failure sends them back, consumers first. `--dry-run` shows the order and what each waits for',
    `• \`${USAGE.status}\` — one rollout or release, or the channel’s service, or all active ones`,
    `• \`${USAGE.list}\` — active rollouts`,
    `• \`/rollout approve|pause|resume|abort <rollout id> [reason…]\` — act on a rollout (its card has buttons too); pause, resume and abort also take a release id and act on every member`,
    `• \`${USAGE.history}\` — the service’s last rollouts`,
    'Example: `/rollout start checkout 2.4.1 --stages 5,25,100 --bake 10m fixes INC-42`',
    ...SEQUENTIAL_HELP,
  ].join('\n');
}

/**
 * What `--dry-run` shows: the plan as it would start (from the stable version a start would use
 * now), whether this person may start it, and why a start would be refused now (`refusals`).
 */
export function planText(
  plan: RolloutPlan,
  service: ServicePolicy,
  requester: { userId: string; mayStart: boolean; refusals?: readonly string[] },
): string {
  const lines = [
    ':memo: *Dry run: nothing was started.*',
    `*${escapeText(plan.service)}* \`${escapeText(plan.version)}\` (from ${stableVersionsText(plan)}) · ${plan.strategy} · ${plan.waves === undefined ? `clusters ${plan.clusters.join(', ')}` : `waves ${plan.waves.map((w, i) => `${i + 1}: ${w.join(', ')}`).join(' → ')}`}`,
    '*Stages*',
  ];
  plan.stages.forEach((stage, i) => {
    const approval = stage.gate.approval;
    const approvers =
      approval && approval.approvers.length > 0
        ? approval.approvers.map(mention).join(', ')
        : 'anyone';
    const then = approval
      ? ` · then ${approval.required} approval(s) from ${approvers}${approval.allowSelfApproval ? '' : ' (not the starter: four-eyes)'}`
      : '';
    lines.push(
      `${i + 1}. *${stage.weight}%* · bake ${formatDuration(stage.bakeMs)} · gate: ${gateTerms(stage)}, ` +
        `roll back after ${stage.gate.failureLimit} failed evaluation(s) in a row${then}`,
    );
  });
  const starters = service.permissions.start;
  lines.push(
    `*Who may start it*: ${starters.length > 0 ? starters.map(mention).join(', ') : 'anyone'}` +
      (requester.mayStart ? ' (you may)' : ` (you, ${mention(requester.userId)}, may not)`),
  );
  if (plan.reason) lines.push(`*Reason*: ${literal(plan.reason)}`);
  const note = versionOrderNote(plan);
  if (note) lines.push(`*Note*: ${escapeText(note)}.`);
  const refusals = requester.refusals ?? [];
  if (refusals.length > 0) {
    lines.push('*A start now would be refused*:');
    for (const refusal of refusals) lines.push(`• ${slackify(refusal)}`);
  } else {
    lines.push('To start it, send the same command without `--dry-run`.');
  }
  return lines.join('\n');
}

export function startedText(state: RolloutState, channel: string | undefined): string {
  return (
    `:rocket: Started \`${state.id}\`: ${escapeText(cardText(state))}.` +
    (channel ? ` Its card is in <#${channel}>.` : '')
  );
}

export function listText(states: readonly RolloutState[]): string {
  if (states.length === 0)
    return 'No rollout is active. `/rollout history <service>` shows past ones.';
  return [
    `*Active rollouts* (${states.length})`,
    ...states.map(
      (s) =>
        `• \`${s.id}\` · *${escapeText(s.plan.service)}* \`${escapeText(s.plan.version)}\` · ${describeStatus(s)} · started by ${mention(s.plan.startedBy)}`,
    ),
  ].join('\n');
}

export function historyText(service: string, states: readonly RolloutState[]): string {
  if (states.length === 0) return `*${escapeText(service)}* has no rollouts yet.`;
  return [
    `*Last rollouts of ${escapeText(service)}*`,
    ...states.map((s) => {
      const outcome = s.outcome ? ` · ${outcomeText(s)}` : '';
      return `• ${slackTime(s.createdAt)} \`${s.id}\` · \`${escapeText(s.plan.version)}\` · ${s.status.replace('_', ' ')} · by ${mention(s.plan.startedBy)}${outcome}`;
    }),
  ].join('\n');
}

export function actedText(action: string, state: RolloutState): string {
  const done: Record<string, string> = {
    approve: 'Approved',
    pause: 'Paused',
    resume: 'Resumed',
    abort: 'Aborted',
    force_finish: 'Force-finished',
  };
  return `${done[action] ?? action} \`${state.id}\`: ${escapeText(cardText(state))}.`;
}

/**
 * A refusal as the person reads it: what was wrong and what would be right (the error says both).
 * `quotes`: what people typed that the message may quote (the input itself, a rollout's abort
 * reason when the refusal describes its state), shown literally.
 */
export function refusalText(err: unknown, quotes: readonly Quote[] = []): string {
  if (isRolloutError(err)) return `:warning: ${slackifyQuoting(err.message, quotes)}`;
  return (
    ':boom: Something went wrong on our side, so this may not have gone through. ' +
    '`/rollout list` shows where things stand; tell the platform team if it persists.'
  );
}
