import { describe, expect, it } from 'vitest';
import { aGate, aPlan } from '../../test/support/plan-builders.js';
import { applicableGate } from './applicable.js';

describe('applicableGate', () => {
  const gate = aGate()
    .withChecks(
      { metric: 'error_rate', mode: 'absolute', max: 0.02 },
      { metric: 'latency_p99', mode: 'relative', max: 1.5 },
    )
    .build();

  it('keeps every check while the stable version still serves traffic', () => {
    expect(applicableGate({ weight: 50, bakeMs: 0, gate }).checks).toEqual(gate.checks);
    expect(applicableGate({ weight: 0, bakeMs: 0, gate }).checks).toEqual(gate.checks);
  });

  it('drops relative checks at 100%, where there is no stable baseline', () => {
    expect(applicableGate({ weight: 100, bakeMs: 0, gate }).checks).toEqual([
      { metric: 'error_rate', mode: 'absolute', max: 0.02 },
    ]);
  });
});

describe('applicableGate with sequential checks', () => {
  it('drops the minimum-traffic guard when only sequential checks judge', () => {
    const gate = aGate().withChecks().withMinRequests(50).withSequential({ metric: 'error_rate' });
    const stage = aPlan().withStages(1, 100).withGate(gate).build().stages[0]!;
    expect(applicableGate(stage).minRequests).toBe(0);
  });

  it('keeps it beside threshold checks', () => {
    const gate = aGate().withMinRequests(50).withSequential({ metric: 'error_rate' });
    const stage = aPlan().withStages(1, 100).withGate(gate).build().stages[0]!;
    expect(applicableGate(stage).minRequests).toBe(50);
  });
});
