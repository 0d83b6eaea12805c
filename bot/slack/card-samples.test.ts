import { describe, expect, it } from 'vitest';
import type { HealthSamplePayload } from '../../shared/contracts/events.js';
import { aPlan, measured } from '../../test/support/plan-builders.js';
import { RolloutDriver } from '../../test/support/rollout-driver.js';
import { MemoryHealthSampleStore } from '../adapters/memory-health-samples.js';
import { cardSamples } from './card-samples.js';

const payload = (stageIndex: number): HealthSamplePayload => ({
  stageIndex,
  windowMs: 5000,
  canary: measured(),
  stable: measured(),
});

describe('cardSamples', () => {
  it('adds the last stage’s samples (the earlier waves’) once the rollout is past its first wave', async () => {
    const d = new RolloutDriver(
      aPlan().withStages(5, 100).withWaves(['staging'], ['eu-west']).build(),
    );
    const store = new MemoryHealthSampleStore();
    await store.record(d.state.id, { cluster: 'staging', receivedAt: 1, sample: payload(1) });
    await store.record(d.state.id, { cluster: 'eu-west', receivedAt: 2, sample: payload(0) });
    d.start();
    // In the first wave: the current stage's only (staging's last-stage sample is not read).
    expect((await cardSamples(store, d.state)).map((s) => s.cluster)).toEqual(['eu-west']);
    d.completeStage();
    d.completeStage();
    expect(d.state.waveIndex).toBe(1);
    expect((await cardSamples(store, d.state)).map((s) => s.cluster).sort()).toEqual([
      'eu-west',
      'staging',
    ]);
  });
});
