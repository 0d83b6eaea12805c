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
