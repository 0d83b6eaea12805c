import { emptyEvidence } from '../../shared/judge/evidence.js';
import { describeEvidence, judge } from '../../shared/judge/judgement.js';
import type { Stage } from '../../shared/rollout/plan.js';
import { evidenceKey, label } from '../../shared/rollout/judge-counts.js';
import type { RolloutState } from '../../shared/rollout/state.js';

/**
 * The card's lines for the stage's sequential checks: the canary's events beside what stable's
 * rate predicts, and how far the evidence is towards a rollback, e.g.
 * `errors 14 vs 6.2 expected · evidence 37% of rollback (α 0.01, tolerance 1.2× stable)`.
 * The evidence spans the whole rollout (the judge keeps it across stages).
 */
export function evidenceLines(state: RolloutState, stage: Stage): string[] {
  return (stage.gate.sequential ?? []).map((check) => {
    const evidence =
      state.judge?.checks[evidenceKey(check)] ?? emptyEvidence(check.maxRatio, false);
    const levels = check.promoteEarly
      ? { alpha: check.alpha, promoteAlpha: check.promoteEarly.alpha }
      : { alpha: check.alpha };
    const verdict = judge(evidence, levels);
    const early = verdict.promote ? ' · no worse than the tolerance: may end the stage early' : '';
    return `Sequential · ${describeEvidence(label(check), evidence, verdict)} (α ${check.alpha}, tolerance ${check.maxRatio}× stable)${early}`;
  });
}

/** `/rollout help`'s lines on sequential checks, for the people who read the card. */
export const SEQUENTIAL_HELP = [
  '*Sequential checks* (`mode: sequential` in the policy): the bot weighs every health sample as it arrives and rolls back as soon as the evidence that the canary is worse than its tolerance (say 1.2× stable’s errors) is strong enough, instead of waiting for a window to fail twice. However often it looks, it rolls back a healthy canary by mistake at most α of the time (1% by default).',
  'The card shows how far that evidence is: `errors 14 vs 6.2 expected · evidence 37% of rollback` means the canary had 14 errors where stable’s rate predicts 6.2, and a rollback happens at 100%. With `promoteEarly`, a stage may also end before its bake once the evidence that the canary is no worse is as strong.',
];

/** The gate terms of the stage's sequential checks, e.g. `errors ≤ 1.2× stable (sequential, α 0.01)`. */
export function sequentialTerms(stage: Stage): string[] {
  return (stage.gate.sequential ?? []).map(
    (c) => `${label(c)} ≤ ${c.maxRatio}× stable (sequential, α ${c.alpha})`,
  );
}
