import { holdsBeforeWidening, isLastWave, type Draft } from './draft.js';
import { isTerminal, type MemberReport, type RolloutState } from './state.js';

/**
 * The highest stage weight the rollout has passed in every wave: 100 once it holds or promotes,
 * else the weight of the stage before the current one in the last wave (0 before that).
 */
export function passedWeight(state: RolloutState): number {
  if (
    (state.status === 'held' && !holdsBeforeWidening(state)) ||
    state.status === 'promoting' ||
    state.status === 'succeeded'
  ) {
    return 100;
  }
  if (!isLastWave(state) || state.stageIndex === 0) return 0;
  return state.plan.stages[state.stageIndex - 1]?.weight ?? 0;
}

/**
 * A release member tells its release when it passed a stage in every wave, reached its hold, or
 * ended: compared before and after one transition, so each is reported once (the release refuses
 * a report it already has, which makes a replayed outbox harmless).
 */
export function reportToRelease(before: RolloutState, draft: Draft): void {
  const after = draft.state;
  const releaseId = after.plan.releaseId;
  if (releaseId === undefined) return;
  const report = (r: MemberReport): void => {
    draft.effects.push({ type: 'report_to_release', releaseId, report: r });
  };
  if (isTerminal(after.status)) {
    const status = after.status as 'succeeded' | 'rolled_back' | 'aborted' | 'failed';
    report({
      kind: 'ended',
      status,
      ...(after.outcome !== undefined && { outcome: after.outcome }),
    });
    return;
  }
  if (after.status === 'held' && before.status !== 'held') {
    report({ kind: holdsBeforeWidening(after) ? 'awaiting_widening' : 'held' });
    return;
  }
  if (after.status === 'rolling_back') return;
  const weight = passedWeight(after);
  if (weight > passedWeight(before) && weight < 100)
    report({ kind: 'progress', passedWeight: weight });
}
