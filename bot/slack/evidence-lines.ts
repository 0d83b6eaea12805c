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
