import { describe, expect, it } from 'vitest';
import { RolloutEvent, type DependentSample } from '../contracts/events.js';
import { decodeMessage } from '../contracts/decode.js';
import { anEvent } from '../../test/support/envelopes.js';
import type { DependentWatch } from '../rollout/plan.js';
import { aGate, aSample, measured, unavailable } from '../../test/support/plan-builders.js';
import { judgeDependents } from './dependents.js';
import { evaluateGate } from './evaluate.js';
import { formatChecks } from './format.js';

/** checkout calls payments: held to its own 2% error rate and 1.5× its own p99. */
const checkout: DependentWatch = {
  service: 'checkout',
  clusters: ['eu-west'],
  checks: [
    { metric: 'error_rate', mode: 'absolute', max: 0.02 },
    { metric: 'latency_p99', mode: 'relative', max: 1.5 },
  ],
  minRequests: 100,
};

function consumer(overrides: Partial<DependentSample> = {}): DependentSample {
  return { service: 'checkout', version: '3.0.0', measurement: measured(), ...overrides };
}

describe('judgeDependents', () => {
  it('holds a consumer to its absolute checks and attributes a breach to the rollout', () => {
    const { checks, inconclusive } = judgeDependents([checkout], 'eu-west', [
      consumer({ measurement: measured({ errors: 80 }) }),
    ]);
    expect(inconclusive).toBeUndefined();
    expect(checks).toEqual([
      {
        kind: 'dependent',
        cluster: 'eu-west',
        service: 'checkout',
        version: '3.0.0',
        metric: 'error_rate',
        mode: 'absolute',
        measured: 0.08,
        threshold: 0.02,
        passed: false,
      },
    ]);
    expect(formatChecks(checks)).toBe(
      'consumer checkout 3.0.0 (unchanged) error_rate 8.0% > 2.0% (absolute) in eu-west',
    );
  });

  it('judges relative checks against the consumer’s own baseline, and only with one', () => {
    const slower = consumer({
      measurement: measured({ p99: 400 }),
      baseline: measured({ p99: 200 }),
    });
    const judged = judgeDependents([checkout], 'eu-west', [slower]).checks;
    expect(judged.find((c) => c.metric === 'latency_p99')).toMatchObject({
      mode: 'relative',
      measured: 400,
      threshold: 300,
      baseline: 200,
      passed: false,
    });
    expect(formatChecks(judged.filter((c) => !c.passed))).toContain('(1.5× its baseline 200ms)');
    // No baseline (an agent restarted): the absolute check alone judges.
    const noBaseline = judgeDependents([checkout], 'eu-west', [
      consumer({ measurement: measured({ p99: 400 }) }),
    ]).checks;
    expect(noBaseline.map((c) => c.metric)).toEqual(['error_rate']);
    // A baseline too small to mean anything is no baseline.
    const tinyBaseline = judgeDependents([checkout], 'eu-west', [
      consumer({ measurement: measured({ p99: 400 }), baseline: measured({ requests: 3 }) }),
    ]).checks;
    expect(tinyBaseline.map((c) => c.metric)).toEqual(['error_rate']);
  });

  it('never blames the provider for a consumer that is changing itself, or too quiet to judge', () => {
    const changing = consumer({
      measurement: unavailable('not measured'),
      changing: true,
    });
    expect(judgeDependents([checkout], 'eu-west', [changing])).toEqual({ checks: [] });
    const quiet = consumer({ measurement: measured({ requests: 40, errors: 40 }) });
    expect(judgeDependents([checkout], 'eu-west', [quiet])).toEqual({ checks: [] });
  });

  it('makes the cluster inconclusive when a watched consumer cannot be measured', () => {
    const result = judgeDependents([checkout], 'eu-west', [
      consumer({ measurement: unavailable('prometheus timed out') }),
    ]);
    expect(result.checks).toEqual([]);
    expect(result.inconclusive).toBe(
      'consumer checkout metrics unavailable (prometheus timed out)',
    );
  });

  it('ignores consumers it was not asked to watch and samples that name none', () => {
    const other = { ...consumer({ measurement: measured({ errors: 900 }) }), service: 'search' };
    expect(judgeDependents([checkout], 'eu-west', [other])).toEqual({ checks: [] });
    expect(judgeDependents([checkout], 'eu-west', undefined)).toEqual({ checks: [] });
  });
});

describe('evaluateGate with dependents', () => {
  const gate = aGate()
    .withChecks({ metric: 'error_rate', mode: 'absolute', max: 0.02 })
    .withMinRequests(100)
    .withFailureLimit(1)
    .build();

  it('fails a healthy canary whose consumer breaks, naming the consumer and its numbers', () => {
    const sample = {
      ...aSample('eu-west', measured({ errors: 1 }), measured({ errors: 1 })),
      dependents: [consumer({ measurement: measured({ errors: 150 }) })],
    };
    const verdict = evaluateGate(gate, [sample], 0, ['eu-west'], { dependents: [checkout] });
    expect(verdict.outcome).toBe('fail');
    expect(formatChecks(verdict.checks.filter((c) => !c.passed))).toBe(
      'consumer checkout 3.0.0 (unchanged) error_rate 15.0% > 2.0% (absolute) in eu-west',
    );
  });

  it('passes when the consumer is healthy, and does not judge consumers it was not given', () => {
    const sample = {
      ...aSample('eu-west'),
      dependents: [consumer({ measurement: measured({ errors: 150 }) })],
    };
    expect(evaluateGate(gate, [sample], 0, ['eu-west']).outcome).toBe('pass');
    const healthy = { ...aSample('eu-west'), dependents: [consumer()] };
    expect(evaluateGate(gate, [healthy], 0, ['eu-west'], { dependents: [checkout] }).outcome).toBe(
      'pass',
    );
  });
});

describe('consumer samples on the wire', () => {
  const sampleWith = (dependents: unknown) =>
    JSON.stringify({
      ...anEvent().heartbeat().build(),
      rolloutId: 'r-1',
      type: 'health_sample',
      payload: {
        stageIndex: 0,
        windowMs: 5000,
        canary: measured(),
        stable: measured(),
        dependents,
      },
    });

  it('accepts a well-formed consumer sample', () => {
    expect(decodeMessage(RolloutEvent, sampleWith([consumer()])).ok).toBe(true);
  });

  it('refuses a malformed one with the field named, so the event goes to the DLQ', () => {
    const negative = decodeMessage(
      RolloutEvent,
      sampleWith([{ ...consumer(), measurement: { ...measured(), errors: -3 } }]),
    );
    expect(negative).toMatchObject({ ok: false });
    expect(!negative.ok && negative.reason).toMatch(
      /payload\.dependents\[0\]\.measurement\.errors/,
    );
    const versionless = decodeMessage(RolloutEvent, sampleWith([{ service: 'checkout' }]));
    expect(!versionless.ok && versionless.reason).toMatch(/payload\.dependents\[0\]\.version/);
    const tooMany = decodeMessage(RolloutEvent, sampleWith(Array.from({ length: 101 }, consumer)));
    expect(!tooMany.ok && tooMany.reason).toMatch(/dependents/);
  });
});
