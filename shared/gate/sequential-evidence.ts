import type { Stage } from '../rollout/plan.js';
import type { GateVerdict } from './verdict.js';

/**
 * A stage judged by sequential checks passes only where the judge has heard from: a cluster that
 * has sent no interval counts since the bake began (an agent that cannot count, a provider query
 * that fails, an agent restarted without the stage's checks) makes a passing verdict
 * inconclusive, so "no evidence" never reads as "healthy". Pure.
 *
 * `countedUntil`: per cluster, the end of the last interval the judge folded (the rollout's
 * `judge.countedUntil`); `since`: when the bake began, less the allowed clock skew.
 */
export function requireSequentialEvidence(
  verdict: GateVerdict,
  stage: Stage,
  clusters: readonly string[],
  countedUntil: Readonly<Record<string, number>>,
  since: number,
): GateVerdict {
  if ((stage.gate.sequential ?? []).length === 0 || verdict.outcome !== 'pass') return verdict;
  const silent = clusters.filter((c) => (countedUntil[c] ?? -Infinity) <= since);
  if (silent.length === 0) return verdict;
  return {
    ...verdict,
    outcome: 'inconclusive',
    inconclusive: [
      ...verdict.inconclusive,
      ...silent.map((cluster) => ({
        cluster,
        reason: 'no interval counts since the bake began: the sequential checks have no evidence',
      })),
    ],
    summary: `no counts for the sequential checks from ${silent.join(', ')} since the bake began`,
  };
}
