import { formatDuration } from '../config/duration.js';
import {
  currentStage,
  notify,
  reject,
  rolloutLabel,
  stageLabel,
  type Draft,
  type Outcome,
} from './draft.js';
import type { RolloutInput } from './state.js';
import { onAbort } from './user-actions.js';

/**
 * Approvals nobody gives. The bot's sweep asks, and the state machine decides with its own clock
 * whether the wait really is past the rule's limits and whether this episode was told already,
 * so every replica may ask and people hear once. The notices are `notify` effects: stored with
 * the state in the outbox, delivered even if Slack or the pager is down when they are decided.
 */

type InputOf<T extends RolloutInput['type']> = Extract<RolloutInput, { type: T }>;

/** Past `remindAfterMs`: remind the approvers in the thread, once per waiting episode. */
export function onApprovalReminder(draft: Draft, _input: InputOf<'approval_reminder'>): Outcome {
  const waiting = waitingFor(draft, 'remind');
  if ('refused' in waiting) return waiting.refused;
  const { state } = draft;
  state.approvalRemindedAt = draft.now;
  notify(
    draft,
    'approval_reminder',
    `Reminder: ${rolloutLabel(state)} has waited ${waiting.since} for approval at ${stageLabel(state)} ` +
      `(${waiting.got}) from ${waiting.who}.`,
  );
  return undefined;
}

/**
 * Past `escalateAfterMs`: page on-call, once per waiting episode, and with `onTimeout: abort`
 * abort the rollout (its lock would otherwise be held with nobody deciding).
 */
export function onApprovalOverdue(draft: Draft, _input: InputOf<'approval_overdue'>): Outcome {
  const waiting = waitingFor(draft, 'escalate');
  if ('refused' in waiting) return waiting.refused;
  const { state } = draft;
  const abort = waiting.rule.onTimeout === 'abort';
  const label = rolloutLabel(state);
  state.approvalEscalatedAt = draft.now;
  notify(
    draft,
    'approval_overdue',
    `${label} has waited ${waiting.since} for approval at ${stageLabel(state)} (${waiting.got}) from ${waiting.who}` +
      (abort
        ? '; the policy aborts it (approvalTimeoutAction: abort).'
        : '; it holds the service until someone approves or aborts it.'),
  );
  if (!abort) return undefined;
  return onAbort(draft, {
    type: 'abort',
    actor: 'system:approval-timeout',
    reason: `no approval within ${waiting.since}`,
  });
}

function waitingFor(
  draft: Draft,
  step: 'remind' | 'escalate',
):
  | { refused: Outcome }
  | {
      rule: NonNullable<ReturnType<typeof currentStage>['gate']['approval']>;
      since: string;
      got: string;
      who: string;
    } {
  const { state } = draft;
  const rule = state.status === 'awaiting_approval' ? currentStage(state).gate.approval : undefined;
  const limit = step === 'remind' ? rule?.remindAfterMs : rule?.escalateAfterMs;
  if (rule === undefined || limit === undefined) {
    return {
      refused: reject(
        'stale_event',
        `${rolloutLabel(state)} is not waiting for an approval with a time limit`,
      ),
    };
  }
  const startedAt = state.approvalRequestedAt ?? state.updatedAt;
  const waited = draft.now - startedAt;
  const told = step === 'remind' ? state.approvalRemindedAt : state.approvalEscalatedAt;
  if (waited < limit || (told !== undefined && told >= startedAt)) {
    return {
      refused: reject(
        'stale_event',
        `approval ${step} for ${rolloutLabel(state)}: not due, or done for this wait already`,
      ),
    };
  }
  return {
    rule,
    // Whole minutes: "62m" reads better in a page than "3720s".
    since: formatDuration(Math.max(60_000, Math.round(waited / 60_000) * 60_000)),
    got: `${state.approvals.length} of ${rule.required}`,
    who: rule.approvers.join(', ') || 'anyone',
  };
}
