import type { types } from '@slack/bolt';
import { formatDuration } from '../../shared/config/duration.js';
import { budgetSpending, formatErrors } from '../../shared/release/error-budget.js';
import type { ReleaseMemberState, ReleaseState } from '../../shared/release/state.js';
import { escapeText, literal, mention } from './slack-text.js';

/**
 * The release's own card: one row per member in plan order (status, what it waits for, its
 * rollout id, how long it ran), the release's status, elapsed time and how it goes back. Pure:
 * `now` is passed in, so the card of an ended release shows its whole run.
 */
export function renderReleaseCard(
  state: ReleaseState,
  now: number,
): { text: string; blocks: types.KnownBlock[] } {
  const text = releaseCardText(state, now);
  return { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] };
}

const STATUS_ICON: Record<ReleaseState['status'], string> = {
  pending: ':hourglass_flowing_sand:',
  running: ':arrows_counterclockwise:',
  paused: ':double_vertical_bar:',
  promoting: ':rocket:',
  rolling_back: ':rewind:',
  succeeded: ':white_check_mark:',
  rolled_back: ':leftwards_arrow_with_hook:',
  aborted: ':no_entry:',
};

const MEMBER_TEXT: Record<ReleaseMemberState['state'], string> = {
  waiting: 'waiting',
  starting: 'starting',
  running: 'running',
  held: 'holding at 100%',
  promoting: 'promoting',
  succeeded: 'promoted',
  rolling_back: 'rolling back',
  rolled_back: 'back at 0%',
  cancelled: 'cancelled (never started)',
};

export function releaseCardText(state: ReleaseState, now: number): string {
  const elapsed = formatDuration(Math.max(0, (state.endedAt ?? now) - state.createdAt));
  const { policy } = state.plan;
  const lines = [
    `*Release \`${escapeText(state.id)}\`* · ${state.plan.members.length} services · started by ${mention(state.startedBy)}` +
      (state.reason ? `\n> ${literal(state.reason)}` : ''),
    `${STATUS_ICON[state.status]} *${state.status.replace('_', ' ')}* · ${elapsed} · ` +
      `at most ${policy.maxParallel} at once · on failure ${policy.onFailure}` +
      budgetText(state),
  ];
  if (state.failure) lines.push(`:rotating_light: ${literal(state.failure.detail)}`);
  state.plan.members.forEach((m, i) => {
    const member = state.members[m.service]!;
    const waits = m.waitsFor.length > 0 ? ` · after ${m.waitsFor.map(escapeText).join(', ')}` : '';
    const ran =
      member.startedAt !== undefined
        ? ` · ${formatDuration(Math.max(0, (member.endedAt ?? now) - member.startedAt))}`
        : '';
    const weight =
      member.state === 'running' && member.passedWeight > 0
        ? ` (passed ${member.passedWeight}%)`
        : '';
    lines.push(
      `${i + 1}. *${escapeText(m.service)}* \`${escapeText(m.version)}\` · ${MEMBER_TEXT[member.state]}${weight}${waits}${ran} · \`${escapeText(member.rolloutId)}\``,
    );
  });
  return lines.join('\n');
}

/** ` · error budget 12.5/200`: the extra canary errors spent of `release.errorBudget`. */
function budgetText(state: ReleaseState): string {
  if (state.errorBudget === undefined) return '';
  const { spent, budget } = budgetSpending(state.errorBudget);
  return ` · error budget ${formatErrors(spent)}/${budget}`;
}
