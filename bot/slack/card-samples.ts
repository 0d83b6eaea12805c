import type { HealthSampleStore, StoredSample } from '../../shared/ports/health-samples.js';
import type { RolloutState } from '../../shared/rollout/state.js';

/**
 * The health samples the card shows: the current stage's, and for a rollout past its first wave
 * also the last stage's, which the earlier waves (at 100%, still watched) keep reporting.
 */
export async function cardSamples(
  samples: HealthSampleStore,
  state: RolloutState,
): Promise<StoredSample[]> {
  const current = await samples.latest(state.id, state.stageIndex);
  const last = state.plan.stages.length - 1;
  if ((state.waveIndex ?? 0) === 0 || last === state.stageIndex) return current;
  return [...current, ...(await samples.latest(state.id, last))];
}
