import type { RolloutInput, RolloutState } from './state.js';

/** What an operator searches the log for: the decisions that move or stop production traffic. */
export type AuditEvent =
  | 'start'
  | 'gate_breach'
  | 'rollback_started'
  | 'rollback_failed'
  | 'rolled_back'
  | 'approval'
  | 'pause'
  | 'resume'
  | 'abort'
  | 'aborted'
  | 'promotion'
  | 'force_finish'
  | 'denied';

export interface AuditRecord {
  event: AuditEvent;
  /** Where the rollout stands after it, plus why when there is a why (the breach, the reason). */
  outcome: string;
}

/**
 * The audit events one accepted transition produced, in order (usually none or one: a gate
 * breach is both a breach and the start of a rollback, and says so once, as `gate_breach`).
 * Pure: derived from the state before, the input and the state after, so every replica and every
 * path into the state machine (Slack, agent events, gate ticks) audits alike.
 */
export function auditRecords(
  before: RolloutState,
  input: RolloutInput,
  after: RolloutState,
): AuditRecord[] {
  const records: AuditRecord[] = [];
  const why = after.outcome ? `: ${after.outcome}` : '';
  switch (input.type) {
    case 'start':
      records.push({ event: 'start', outcome: after.status });
      break;
    case 'approve':
      records.push({
        event: 'approval',
        outcome:
          after.status === 'awaiting_approval'
            ? `${after.approvals.length} approval(s) at stage ${after.stageIndex + 1}, more needed`
            : after.status,
      });
      break;
    case 'pause':
    case 'resume':
      records.push({ event: input.type, outcome: after.status });
      break;
    case 'abort':
      records.push({ event: 'abort', outcome: `${after.status}: ${input.reason}` });
      break;
    case 'force_finish':
      records.push({ event: 'force_finish', outcome: `${after.status}${why}` });
      break;
    default:
      break;
  }
  const rollbackBegan = before.status !== 'rolling_back' && after.status === 'rolling_back';
  if (rollbackBegan && after.rollback?.cause === 'gate_breached') {
    records.push({ event: 'gate_breach', outcome: `rolling_back${why}` });
  } else if (rollbackBegan && after.rollback?.cause === 'command_failed') {
    records.push({ event: 'rollback_started', outcome: `rolling_back${why}` });
  }
  const failedNow = Object.entries(after.clusters).filter(
    ([name, c]) => c.status === 'failed' && before.clusters[name]?.status !== 'failed',
  );
  if (after.status === 'rolling_back' && failedNow.length > 0) {
    records.push({
      event: 'rollback_failed',
      outcome: failedNow.map(([name, c]) => `${name}: ${c.failure ?? 'failed'}`).join('; '),
    });
  }
  if (before.status !== after.status) {
    if (after.status === 'rolled_back')
      records.push({ event: 'rolled_back', outcome: `rolled_back${why}` });
    if (after.status === 'aborted' && input.type !== 'abort')
      records.push({ event: 'aborted', outcome: `aborted${why}` });
    if (after.status === 'succeeded') records.push({ event: 'promotion', outcome: 'succeeded' });
  }
  return records;
}
