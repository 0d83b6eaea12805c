import type { RolloutInput, RolloutState } from './state.js';

/**
 * Whether an accepted transition gets a line in the rollout's history (its audit trail). Pure:
 * derived from the state before, the input and the state after, as `auditRecords` is.
 *
 * Every input is recorded except the two that arrive on a timer or with every sample and mostly
 * change nothing a person reads:
 * - a gate result is recorded when its outcome differs from the previous evaluation's (the first
 *   of a stage included), when it failed (every failed evaluation counts toward a rollback), when
 *   it decided something (the status or the stage changed: the last evaluation of a bake always
 *   does) or when it raised the held alert. Repeats of a pass mid-bake or of an inconclusive tick
 *   are not: the state keeps the latest verdict, and the card shows it.
 * - health counts (the sequential judge's input, one per sample) are recorded only when they
 *   decided something: the status or the stage changed (a breach, or a stage ended early).
 *
 * A commit without a line has no thread reply either: the thread's lines are derived from the
 * history (`EffectRunner.causeOf`), and none of the skipped transitions has one.
 */
export function keepsHistoryLine(
  before: RolloutState,
  input: RolloutInput,
  after: RolloutState,
): boolean {
  const decided = before.status !== after.status || before.stageIndex !== after.stageIndex;
  switch (input.type) {
    case 'gate_result': {
      const { outcome } = input.verdict;
      return (
        decided ||
        outcome === 'fail' ||
        outcome === 'failing' ||
        before.gate.lastVerdict?.outcome !== outcome ||
        before.gate.heldAlerted !== after.gate.heldAlerted
      );
    }
    case 'health_counts':
      return decided;
    default:
      return true;
  }
}
