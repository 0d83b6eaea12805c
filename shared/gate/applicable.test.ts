import { describe, expect, it } from 'vitest';
import { aGate } from '../../test/support/plan-builders.js';
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
