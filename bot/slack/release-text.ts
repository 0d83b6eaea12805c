import type { ReleasePlan } from '../../shared/release/plan.js';
import type { ReleaseState } from '../../shared/release/state.js';
import { releaseCardText } from './release-card.js';
import { RolloutError } from '../../shared/errors.js';
import { escapeText, literal } from './slack-text.js';

/**
 * What `/rollout start a@1 b@2 --dry-run` shows: the order the members would start in, what each
 * waits for, where each goes wave by wave, and the release settings that shape the run.
 */
export function releasePlanText(plan: ReleasePlan, reason?: string): string {
  const { maxParallel, consumerStartsAt, onFailure, errorBudget } = plan.policy;
  const lines = [
    ':memo: *Dry run: nothing was started.*',
    `*Release of ${plan.members.length} services*, providers before their consumers ` +
      `(at most ${maxParallel} at once; release.maxParallel)`,
  ];
  plan.members.forEach((member, i) => {
    const waits =
      member.waitsFor.length === 0
        ? 'starts first'
        : `waits for ${member.waitsFor.map((s) => `*${escapeText(s)}*`).join(', ')}`;
    const waves =
      member.waves.length === 1
        ? `clusters ${member.waves[0]!.join(', ')}`
        : `waves ${member.waves.map((w) => w.join(', ')).join(' → ')}`;
    lines.push(
      `${i + 1}. *${escapeText(member.service)}* \`${escapeText(member.version)}\` · ${waits} · ${waves}`,
    );
  });
  lines.push(
    consumerStartsAt === undefined
      ? 'A consumer starts when each provider it waits for has finished its rollout.'
      : `A consumer starts when each provider it waits for has passed its ${consumerStartsAt}% stage in every wave (release.consumerStartsAt).`,
    onFailure === 'rollback-all'
      ? 'If a member fails, every member rolls back, consumers before providers (release.onFailure: rollback-all).'
      : 'If a member fails, it and the members it depends on or feeds roll back, consumers before providers (release.onFailure: rollback-dependents).',
  );
  if (errorBudget !== undefined) {
    lines.push(`Error budget: ${errorBudget} extra failed requests across all members.`);
  }
  if (reason) lines.push(`*Reason*: ${literal(reason)}`);
  lines.push('Each member starts with its own policy: stages, bake, gates and approvals.');
  return lines.join('\n');
}

/** A release start without `--dry-run`: planned and checked, but this version cannot run one. */
export class ReleaseNotRunError extends RolloutError {
  constructor(example: string) {
    super(
      'release_not_run',
      'releases are planned but not yet run by this version; nothing was started. ' +
        `Use --dry-run to see the plan (\`/rollout start ${example} --dry-run\`), ` +
        'or start each service with its own /rollout start <service> <version>, providers first.',
    );
  }
}

/** The reply to a release start: its id, and where its card is. */
export function releaseStartedText(state: ReleaseState): string {
  return (
    `:rocket: Release \`${escapeText(state.id)}\` started: ` +
    state.plan.groups.map((g) => g.map(escapeText).join(', ')).join(' → ') +
    `. Its card follows it; \`/rollout status ${escapeText(state.id)}\`, ` +
    `\`/rollout pause|resume|abort ${escapeText(state.id)}\` act on every member.`
  );
}

/** `/rollout status <release-id>`: the release card's text as of now. */
export function releaseStatusText(state: ReleaseState, now = Date.now()): string {
  return releaseCardText(state, now);
}

/** `/rollout list`: the releases not ended, each with its members' states. */
export function activeReleasesText(states: readonly ReleaseState[]): string {
  return [
    `*Active releases* (${states.length})`,
    ...states.map(
      (s) =>
        `• \`${escapeText(s.id)}\` · ${s.status.replace('_', ' ')} · ` +
        s.plan.members
          .map(
            (m) =>
              `${escapeText(m.service)} ${s.members[m.service]?.state.replace('_', ' ') ?? ''}`,
          )
          .join(', '),
    ),
  ].join('\n');
}
