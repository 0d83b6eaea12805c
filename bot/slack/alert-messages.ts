import type { types } from '@slack/bolt';
import { formatCheck } from '../../shared/gate/format.js';
import type { AlertKind, RolloutState } from '../../shared/rollout/state.js';
import { rolloutText } from './rollout-text.js';
import { clip, escapeText, mention, slackify } from './slack-text.js';

export interface AlertView {
  text: string;
  blocks: types.KnownBlock[];
  /** Also shown in the channel when posted in the card's thread. */
  broadcast: boolean;
}

const TITLE: Record<AlertKind, string> = {
  gate_breached: ':rotating_light: Automatic rollback: the gate is breached',
  rolled_back: ':leftwards_arrow_with_hook: Rolled back',
  rollback_failed: ':sos: The rollback failed: a person must act',
  gate_inconclusive: ':grey_question: The gate is inconclusive: holding',
  approval_needed: ':raised_hand: Approval needed',
  approval_reminder: ':raised_hand: Still waiting for approval',
  approval_overdue: ':alarm_clock: Approval overdue',
  command_failed: ':warning: A command failed: rolling back',
  rollout_stuck: ':hourglass: The rollout is stuck',
  rollout_paused: ':double_vertical_bar: Paused for long: resume or abort',
};

/**
 * An alert about a rollout, posted in its card's thread. Everything but an approval request (or
 * its reminder) mentions the service's on-call group and is broadcast to the channel: a person
 * must see it now. An approval request mentions the approvers (its message names them) in the
 * thread only.
 */
export function alertView(
  state: RolloutState,
  kind: AlertKind,
  message: string,
  oncall: string | undefined,
): AlertView {
  const quiet = kind === 'approval_needed' || kind === 'approval_reminder';
  const page = !quiet && oncall ? `${mention(oncall)} ` : '';
  const title = `${TITLE[kind]} · *${escapeText(state.plan.service)}* \`${escapeText(state.plan.version)}\``;
  // The message is the bot's, but may quote what people typed (a reason): that shows literally.
  const body = clip(rolloutText(state, message), 2500);
  const blocks: types.KnownBlock[] = [
    { type: 'section', text: { type: 'mrkdwn', text: `${page}${title}\n${body}` } },
  ];
  const facts = factsOf(state, kind);
  if (facts.length > 0) {
    blocks.push({
      type: 'section',
      fields: facts.map(([label, value]) => ({
        type: 'mrkdwn',
        text: clip(`*${label}*\n${value}`, 2000),
      })),
    });
  }
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `\`${state.id}\`` }] });
  return {
    // The message names the rollout itself (`checkout 2.5.0 (checkout-3f9a1c): …`).
    text: `${page}${TITLE[kind].replace(/^:[a-z_]+: /, '')}: ${body}`,
    blocks,
    broadcast: !quiet,
  };
}

/** For a breach: every failed check with its measured value and threshold, the stage and the clusters. */
function factsOf(state: RolloutState, kind: AlertKind): [string, string][] {
  if (kind !== 'gate_breached' && kind !== 'rolled_back') return [];
  const facts: [string, string][] = [];
  const failed = state.gate.lastVerdict?.checks.filter((c) => !c.passed) ?? [];
  if (failed.length > 0) {
    facts.push(['Breached', failed.map((c) => escapeText(formatCheck(c))).join('\n')]);
  }
  const stage = state.plan.stages[state.stageIndex];
  facts.push([
    'Stage',
    `${state.stageIndex + 1} of ${state.plan.stages.length}${stage ? ` (${stage.weight}%)` : ''}`,
  ]);
  facts.push([
    'Clusters (now)',
    state.plan.clusters
      .map((c) => {
        const cluster = state.clusters[c];
        return `${c}: ${cluster?.weight ?? 0}%, ${(cluster?.status ?? 'unknown').replace('_', ' ')}`;
      })
      .join('\n'),
  ]);
  facts.push(['Back to', `\`${escapeText(state.plan.stableVersion)}\``]);
  return facts;
}

/** An alert about a cluster (its agent went silent), for one service channel. */
export function clusterAlertText(cluster: string, message: string, oncall: string[]): string {
  const page = oncall.length > 0 ? `${oncall.map(mention).join(' ')} ` : '';
  return `${page}:satellite_antenna: *Cluster ${escapeText(cluster)}*: ${clip(slackify(message), 2800)}`;
}
