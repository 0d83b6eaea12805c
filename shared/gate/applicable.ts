import type { Gate, Stage } from '../rollout/plan.js';

/**
 * The gate as it can be judged at this stage. With all traffic on the new version (weight 100)
 * the stable version serves nothing, so there is no baseline: relative checks do not apply and
 * only absolute ones judge. Keeping them would hold the last stage inconclusive forever.
 */
export function applicableGate(stage: Stage): Gate {
  const gate =
    stage.weight < 100
      ? stage.gate
      : { ...stage.gate, checks: stage.gate.checks.filter((c) => c.mode === 'absolute') };
  return thresholdGuarded(gate);
}

/**
 * The minimum-traffic guard belongs to threshold checks (a rate over a handful of requests is
 * noise). A gate judged only by sequential checks needs none: their evidence weighs every request,
 * and holding the bake inconclusive at low traffic would hold a healthy canary forever. Zero
 * requests stays inconclusive.
 */
function thresholdGuarded(gate: Gate): Gate {
  const sequentialOnly = gate.checks.length === 0 && (gate.sequential?.length ?? 0) > 0;
  return sequentialOnly ? { ...gate, minRequests: 0 } : gate;
}

/**
 * At weight 0 (a blue-green preview) no live request reaches the new version: the gate can only
 * count traffic a mirror copies to it, and otherwise has its webhook checks to go by.
 */
export function judgedWithoutLiveTraffic(stage: Stage): boolean {
  return stage.weight === 0;
}
