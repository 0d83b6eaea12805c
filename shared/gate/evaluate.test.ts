import { describe, expect, it } from 'vitest';
import {
  aGate,
  aSample,
  aWebhookResult,
  measured,
  unavailable,
} from '../../test/support/plan-builders.js';
import { evaluateGate } from './evaluate.js';

/** One small test per rule. Default sample: 1000 requests, 0 errors, p95 120ms, p99 200ms. */

const errorRateUnder2Percent = () =>
  aGate()
    .withChecks({ metric: 'error_rate', mode: 'absolute', max: 0.02 })
    .withMinRequests(100)
    .withFailureLimit(3);
const p99AtMost1_5xStable = () =>
  aGate()
    .withChecks({ metric: 'latency_p99', mode: 'relative', max: 1.5 })
    .withMinRequests(100)
    .withFailureLimit(3);

describe('absolute checks', () => {
  it('passes at or under the limit', () => {
    const v = evaluateGate(
      errorRateUnder2Percent().build(),
      [aSample('eu', measured({ errors: 20 }))],
      0,
    );
    expect(v.outcome).toBe('pass');
    expect(v.checks).toEqual([
      {
        cluster: 'eu',
        metric: 'error_rate',
        mode: 'absolute',
        measured: 0.02,
        threshold: 0.02,
        passed: true,
      },
    ]);
  });

  it('fails over the limit', () => {
    const v = evaluateGate(
      errorRateUnder2Percent().build(),
      [aSample('eu', measured({ errors: 79 }))],
      0,
    );
    expect(v).toMatchObject({ outcome: 'failing', consecutiveFailures: 1 });
    expect(v.checks[0]).toMatchObject({ measured: 0.079, threshold: 0.02, passed: false });
  });

  it('reads latency_p95 and latency_p99 from the canary percentiles', () => {
    const gate = aGate()
      .withChecks(
        { metric: 'latency_p95', mode: 'absolute', max: 150 },
        { metric: 'latency_p99', mode: 'absolute', max: 300 },
      )
      .build();
    const v = evaluateGate(gate, [aSample('eu', measured({ p95: 151, p99: 299 }))], 0);
    expect(v.checks.map((c) => c.kind !== 'webhook' && [c.metric, c.measured, c.passed])).toEqual([
      ['latency_p95', 151, false],
      ['latency_p99', 299, true],
    ]);
  });
});

describe('relative checks', () => {
  it('hold the canary to the stable value times max', () => {
    const v = evaluateGate(
      p99AtMost1_5xStable().build(),
      [aSample('eu', measured({ p99: 300 }), measured({ p99: 200 }))],
      0,
    );
    expect(v.outcome).toBe('pass');
    expect(v.checks[0]).toMatchObject({
      measured: 300,
      threshold: 300,
      baseline: 200,
      passed: true,
    });
  });

  it('fail beyond it', () => {
    const v = evaluateGate(
      p99AtMost1_5xStable().build(),
      [aSample('eu', measured({ p99: 412 }), measured({ p99: 200 }))],
      0,
    );
    expect(v.outcome).toBe('failing');
  });

  it('are inconclusive, not passed, when stable metrics are unavailable', () => {
    const v = evaluateGate(
      p99AtMost1_5xStable().build(),
      [aSample('eu', measured(), unavailable('no stable pods'))],
      0,
    );
    expect(v.outcome).toBe('inconclusive');
    expect(v.inconclusive).toEqual([
      {
        cluster: 'eu',
        reason: 'stable metrics unavailable (no stable pods); relative checks need a baseline',
      },
    ]);
  });

  it('are inconclusive when stable served no requests', () => {
    const v = evaluateGate(
      p99AtMost1_5xStable().build(),
      [aSample('eu', measured(), measured({ requests: 0 }))],
      0,
    );
    expect(v.outcome).toBe('inconclusive');
    expect(v.inconclusive[0]!.reason).toMatch(/stable had 0 requests/);
  });

  it('do not hide an absolute breach in the same cluster', () => {
    const gate = errorRateUnder2Percent().withCheck('latency_p99', 'relative', 1.5).build();
    const v = evaluateGate(gate, [aSample('eu', measured({ errors: 500 }), unavailable())], 0);
    expect(v.outcome).toBe('failing');
  });
});

describe('minimum requests', () => {
  it('makes a cluster with too little traffic inconclusive', () => {
    const v = evaluateGate(
      errorRateUnder2Percent().build(),
      [aSample('eu', measured({ requests: 12, errors: 12 }))],
      0,
    );
    expect(v).toMatchObject({ outcome: 'inconclusive', checks: [] });
    expect(v.inconclusive).toEqual([{ cluster: 'eu', reason: '12 requests < 100 minimum' }]);
  });

  it('never counts zero requests as evidence, even with no minimum', () => {
    const gate = errorRateUnder2Percent().withMinRequests(0).build();
    const v = evaluateGate(gate, [aSample('eu', measured({ requests: 0 }))], 0);
    expect(v.outcome).toBe('inconclusive');
  });
});

describe('unavailable or missing data', () => {
  it('makes a cluster whose canary metrics are unavailable inconclusive', () => {
    const v = evaluateGate(
      errorRateUnder2Percent().build(),
      [aSample('eu', unavailable('prometheus timed out'))],
      0,
    );
    expect(v.inconclusive).toEqual([
      { cluster: 'eu', reason: 'canary metrics unavailable: prometheus timed out' },
    ]);
    expect(v.outcome).toBe('inconclusive');
  });

  it('makes a target cluster that sent no sample inconclusive', () => {
    const v = evaluateGate(errorRateUnder2Percent().build(), [aSample('eu')], 0, ['eu', 'us']);
    expect(v.outcome).toBe('inconclusive');
    expect(v.inconclusive).toEqual([{ cluster: 'us', reason: 'no health sample received' }]);
  });

  it('is inconclusive with no samples at all', () => {
    expect(evaluateGate(errorRateUnder2Percent().build(), [], 0).outcome).toBe('inconclusive');
  });
});

describe('failure streak', () => {
  it('fails once failures reach the limit in a row', () => {
    const gate = errorRateUnder2Percent().withFailureLimit(3).build();
    const bad = [aSample('eu', measured({ errors: 100 }))];
    expect(evaluateGate(gate, bad, 1)).toMatchObject({
      outcome: 'failing',
      consecutiveFailures: 2,
    });
    expect(evaluateGate(gate, bad, 2)).toMatchObject({ outcome: 'fail', consecutiveFailures: 3 });
  });

  it('fails on the first failure with a limit of 1', () => {
    const gate = errorRateUnder2Percent().withFailureLimit(1).build();
    expect(evaluateGate(gate, [aSample('eu', measured({ errors: 100 }))], 0).outcome).toBe('fail');
  });

  it('is reset by a pass', () => {
    expect(evaluateGate(errorRateUnder2Percent().build(), [aSample('eu')], 2)).toMatchObject({
      outcome: 'pass',
      consecutiveFailures: 0,
    });
  });

  it('is left as it was by an inconclusive evaluation', () => {
    const v = evaluateGate(errorRateUnder2Percent().build(), [aSample('eu', unavailable())], 2);
    expect(v).toMatchObject({ outcome: 'inconclusive', consecutiveFailures: 2 });
  });

  it('counts a failure in one cluster even when another is inconclusive', () => {
    const v = evaluateGate(
      errorRateUnder2Percent().build(),
      [aSample('eu', measured({ errors: 100 })), aSample('us', unavailable())],
      0,
    );
    expect(v).toMatchObject({ outcome: 'failing', consecutiveFailures: 1 });
  });
});

describe('summary', () => {
  it('names each breached check with measured value, threshold, baseline and cluster', () => {
    const gate = errorRateUnder2Percent()
      .withCheck('latency_p99', 'relative', 1.5)
      .withFailureLimit(2)
      .build();
    const v = evaluateGate(
      gate,
      [
        aSample('eu-west', measured({ errors: 79 })),
        aSample('us-east', measured({ p99: 412 }), measured({ p99: 200 })),
      ],
      1,
    );
    expect(v.summary).toBe(
      'error_rate 7.9% > 2.0% (absolute) in eu-west; latency_p99 412ms > 300ms (1.5× stable 200ms) in us-east ' +
        '(failed 2 of 2 evaluations in a row)',
    );
  });

  it('uses enough precision to tell the value from the threshold', () => {
    const v = evaluateGate(
      errorRateUnder2Percent().build(),
      [aSample('eu', measured({ requests: 10_000, errors: 201 }))],
      0,
    );
    expect(v.summary).toMatch(/^error_rate 2.01% > 2.00% \(absolute\) in eu/);
  });

  it('says why an evaluation was inconclusive', () => {
    const v = evaluateGate(
      errorRateUnder2Percent().build(),
      [
        aSample('eu', measured({ requests: 12 })),
        aSample('us', unavailable('prometheus timed out')),
      ],
      0,
    );
    expect(v.summary).toBe(
      'inconclusive: eu: 12 requests < 100 minimum; us: canary metrics unavailable: prometheus timed out',
    );
  });

  it('mentions inconclusive clusters after a failure', () => {
    const v = evaluateGate(
      errorRateUnder2Percent().build(),
      [aSample('eu', measured({ errors: 100 })), aSample('us', measured({ requests: 12 }))],
      0,
    );
    expect(v.summary).toMatch(
      /in eu \(failed 1 of 3 evaluations in a row\); inconclusive in us: 12 requests < 100 minimum$/,
    );
  });

  it('reads as a pass when everything passed', () => {
    const v = evaluateGate(errorRateUnder2Percent().build(), [aSample('eu'), aSample('us')], 0);
    expect(v.summary).toBe('all 2 checks passed in eu, us');
  });
});

describe('webhook checks', () => {
  const smokeGate = () => errorRateUnder2Percent().withWebhook('smoke').build();
  const noTraffic = measured({ requests: 0 });

  it('a blue-green preview with no traffic passes on its passing webhook (webhooksSuffice)', () => {
    const v = evaluateGate(
      smokeGate(),
      [aSample('eu', noTraffic, measured(), [aWebhookResult('smoke', true)])],
      0,
      ['eu'],
      { webhooksSuffice: true },
    );
    expect(v.outcome).toBe('pass');
    expect(v.checks).toEqual([
      {
        kind: 'webhook',
        cluster: 'eu',
        webhook: 'smoke',
        passed: true,
        detail: 'status 200 in 12ms',
      },
    ]);
  });

  it('without webhooksSuffice, no traffic stays inconclusive even with a passing webhook', () => {
    const v = evaluateGate(
      smokeGate(),
      [aSample('eu', noTraffic, measured(), [aWebhookResult('smoke', true)])],
      0,
    );
    expect(v.outcome).toBe('inconclusive');
  });

  it('a failed webhook is a failed check with its name and reason, traffic or not', () => {
    const sample = aSample('eu', noTraffic, measured(), [
      aWebhookResult('smoke', false, 'status 500, expected 200'),
    ]);
    const v = evaluateGate(smokeGate(), [sample], 2, ['eu'], { webhooksSuffice: true });
    expect(v.outcome).toBe('fail');
    expect(v.summary).toContain('webhook smoke failed in eu: status 500, expected 200');
    // Also at a canary stage, where missing traffic would otherwise hide it.
    expect(evaluateGate(smokeGate(), [sample], 0).outcome).toBe('failing');
  });

  it('a webhook that has not reported yet is inconclusive, never a pass', () => {
    const v = evaluateGate(smokeGate(), [aSample('eu', noTraffic)], 0, ['eu'], {
      webhooksSuffice: true,
    });
    expect(v).toMatchObject({ outcome: 'inconclusive' });
    expect(v.summary).toContain('webhook smoke not reported yet');
  });

  it('mirrored traffic that arrives is still held to the metric checks', () => {
    const v = evaluateGate(
      smokeGate(),
      [aSample('eu', measured({ errors: 300 }), measured(), [aWebhookResult('smoke', true)])],
      0,
      ['eu'],
      { webhooksSuffice: true },
    );
    expect(v.outcome).toBe('failing');
  });
});
