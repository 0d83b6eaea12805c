import { logMixture, type Evidence } from './evidence.js';

/** The error budgets of one sequential check. */
export interface JudgeLevels {
  /** False-alarm probability of the rollback test (0 < α ≤ 0.2). */
  alpha: number;
  /** False-promotion probability of the early-promotion test; absent: no early promotion. */
  promoteAlpha?: number;
}

export interface Judgement {
  /** log E of "the canary is worse than maxRatio × stable"; a rollback needs log(1/α). */
  logRegression: number;
  /** log E of "the canary is no worse than maxRatio × stable". */
  logPromotion: number;
  /** How far the regression evidence is towards a rollback, 0..1, on the log scale. */
  rollbackProgress: number;
  rollback: boolean;
  /** Early promotion is allowed by the evidence (the caller still enforces the minimum bake). */
  promote: boolean;
}

/** Reads the running evidence against the check's levels. Pure; evidence is never consumed. */
export function judge(evidence: Evidence, levels: JudgeLevels): Judgement {
  const logRegression = logMixture(evidence.regression);
  const logPromotion = logMixture(evidence.promotion);
  const needed = Math.log(1 / levels.alpha);
  return {
    logRegression,
    logPromotion,
    rollbackProgress: Math.min(1, Math.max(0, logRegression / needed)),
    rollback: logRegression >= needed,
    promote: levels.promoteAlpha !== undefined && logPromotion >= Math.log(1 / levels.promoteAlpha),
  };
}

/** E.g. `errors 14 vs 6.2 expected · evidence 37% of rollback`. */
export function describeEvidence(label: string, evidence: Evidence, judgement: Judgement): string {
  const expected = evidence.expectedCanaryEvents;
  const shown = expected >= 10 ? expected.toFixed(0) : expected.toFixed(1);
  const progress = Math.floor(judgement.rollbackProgress * 100);
  return `${label} ${evidence.canaryEvents} vs ${shown} expected · evidence ${progress}% of rollback`;
}
