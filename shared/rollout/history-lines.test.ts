import { describe, expect, it } from 'vitest';
import type { GateOutcome } from '../gate/verdict.js';
import { aGate, aPlan, aVerdict } from '../../test/support/plan-builders.js';
import { healthCounts, rolloutIn, type RolloutDriver } from '../../test/support/rollout-driver.js';
import { keepsHistoryLine } from './history-lines.js';
import type { RolloutInput } from './state.js';

const plan = (gate = aGate().withFailureLimit(3)) =>
  aPlan().withStages(5, 50, 100).withClusters('eu', 'us').withBake(300_000).withGate(gate).build();

/** Accepts the input and says whether the transition gets a history line. */
function kept(d: RolloutDriver, input: RolloutInput): boolean {
  const before = d.state;
  d.accept(input);
  return keepsHistoryLine(before, input, d.state);
}

/** The gate result of the tick the rollout waits for, `ms` later. */
function tick(d: RolloutDriver, outcome: GateOutcome, ms = 10_000): boolean {
  d.advance(ms);
  return kept(d, {
    type: 'gate_result',
    stageIndex: d.state.stageIndex,
    tick: d.state.gate.tick,
    verdict: aVerdict(outcome, { consecutiveFailures: d.state.gate.consecutiveFailures + 1 }),
  });
}

describe('keepsHistoryLine', () => {
  it('records the first pass of a bake and the one that ends it, not the passes between', () => {
    const d = rolloutIn('baking', plan());
    expect([tick(d, 'pass'), tick(d, 'pass'), tick(d, 'pass')]).toEqual([true, false, false]);
    d.endBake();
    expect(tick(d, 'pass', 0)).toBe(true);
    expect(d.state.status).toBe('progressing');
  });

  it('records an inconclusive tick only when the outcome changes', () => {
    const d = rolloutIn('baking', plan());
    const outcomes: GateOutcome[] = [
      'inconclusive',
      'inconclusive',
      'pass',
      'pass',
      'inconclusive',
    ];
    expect(outcomes.map((o) => tick(d, o))).toEqual([true, false, true, false, true]);
  });

  it('records every failed evaluation, the breach included', () => {
    const d = rolloutIn('baking', plan());
    expect([tick(d, 'pass'), tick(d, 'failing'), tick(d, 'failing'), tick(d, 'fail')]).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(d.state.status).toBe('rolling_back');
  });

  it('records the inconclusive tick that raises the held alert past the bake', () => {
    const d = rolloutIn('baking', plan());
    expect(tick(d, 'inconclusive')).toBe(true);
    d.endBake();
    expect(tick(d, 'inconclusive', 0)).toBe(true);
    expect(d.state.gate.heldAlerted).toBe(true);
    expect(tick(d, 'inconclusive')).toBe(false);
  });

  it('starts again at each stage: the first tick of the next stage is recorded', () => {
    const d = rolloutIn('baking', plan());
    tick(d, 'pass');
    d.endBake();
    tick(d, 'pass', 0);
    d.applyStage();
    expect(d.state).toMatchObject({ status: 'baking', stageIndex: 1 });
    expect(tick(d, 'pass')).toBe(true);
  });

  it('records health counts only when the sequential judge decided', () => {
    const d = rolloutIn('baking', plan(aGate().withSequential({ metric: 'error_rate' })));
    expect(kept(d, healthCounts('eu', 5_000, 7))).toBe(false);
    expect(d.state.status).toBe('baking');
    expect(kept(d, healthCounts('us', 5_000, 7))).toBe(true);
    expect(d.state.status).toBe('rolling_back');
  });

  it('records every other input: people, agents and timers', () => {
    const d = rolloutIn('progressing', plan());
    expect(kept(d, { type: 'stage_applied', cluster: 'eu', stageIndex: 0, weight: 5 })).toBe(true);
    expect(kept(d, { type: 'stage_applied', cluster: 'us', stageIndex: 0, weight: 5 })).toBe(true);
    expect(kept(d, { type: 'pause', actor: 'U-ops' })).toBe(true);
    expect(kept(d, { type: 'resume', actor: 'U-ops' })).toBe(true);
    expect(kept(d, { type: 'abort', actor: 'U-ops', reason: 'enough' })).toBe(true);
  });
});
