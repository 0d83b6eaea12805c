import { describe, expect, it } from 'vitest';
import { aGate, aPlan } from '../../test/support/plan-builders.js';
import { rolloutIn } from '../../test/support/rollout-driver.js';
import { evidenceLines } from './evidence-lines.js';

const plan = aPlan()
  .withStages(5, 100)
  .withGate(aGate().withSequential({ metric: 'error_rate' }))
  .build();

describe('evidenceLines', () => {
  it('shows no evidence before any counts', () => {
    const d = rolloutIn('baking', plan);
    expect(evidenceLines(d.state, plan.stages[0]!)).toEqual([
      'Sequential · errors 0 vs 0.0 expected · evidence 0% of rollback (α 0.01, tolerance 1.2× stable)',
    ]);
  });

  it('shows the canary’s errors beside the expected and the evidence towards a rollback', () => {
    const d = rolloutIn('baking', plan);
    const interval = (requests: number, errors: number) => ({
      fromMs: 0,
      toMs: 5_000,
      requests,
      errors,
    });
    d.accept({
      type: 'health_counts',
      cluster: 'eu-west',
      canary: interval(250, 4),
      stable: interval(4_750, 24),
    });
    const [line] = evidenceLines(d.state, plan.stages[0]!);
    expect(line).toMatch(/^Sequential · errors 4 vs 1\.4 expected · evidence \d+% of rollback/);
    expect(line).not.toContain('evidence 0%');
  });

  it('has no lines for a stage without sequential checks', () => {
    const plain = aPlan().build();
    expect(evidenceLines(rolloutIn('baking', plain).state, plain.stages[0]!)).toEqual([]);
  });
});
