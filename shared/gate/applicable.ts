import type { Gate, Stage } from '../rollout/plan.js';

/**
 * The gate as it can be judged at this stage. With all traffic on the new version (weight 100)
 * the stable version serves nothing, so there is no baseline: relative checks do not apply and
 * only absolute ones judge. Keeping them would hold the last stage inconclusive forever.
 */
export function applicableGate(stage: Stage): Gate {
  if (stage.weight < 100) return stage.gate;
  return { ...stage.gate, checks: stage.gate.checks.filter((c) => c.mode === 'absolute') };
}

/**
 * At weight 0 (a blue-green preview) no live request reaches the new version: the gate can only
 * count traffic a mirror copies to it, and otherwise has its webhook checks to go by.
 */
export function judgedWithoutLiveTraffic(stage: Stage): boolean {
  return stage.weight === 0;
}
