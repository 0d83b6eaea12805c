import { describe, expect, it } from 'vitest';
import { planFromPolicy } from './plan-from-policy.js';
import { parsePolicy } from './policy-loader.js';
import { policyRefusal } from '../../test/support/policy-refusals.js';

/** A policy whose default gate has the given checks (YAML list items, indented for `checks:`). */
function withChecks(checks: string): string {
  return `clusters: { eu-west: {} }
defaults:
  gate:
    checks:
${checks}
services:
  checkout:
    channel: C0CHECKOUT
    clusters: [eu-west]
`;
}

describe('sequential checks in the policy', () => {
  it('reads them into the plan beside the threshold checks, with their defaults', () => {
    const policy = parsePolicy(
      withChecks(`      - { metric: error_rate, mode: absolute, max: 0.02 }
      - { metric: error_rate, mode: sequential, maxRatio: 1.2, promoteEarly: true }
      - { metric: latency_p99, mode: sequential, alpha: 0.005, maxRatio: 1.5, latencyBoundMs: 300 }`),
      'policy.yaml',
    );
    const plan = planFromPolicy(policy, { service: 'checkout', version: '1.2.3', startedBy: 'U1' });
    const gate = plan.stages[0]!.gate;
    expect(gate.checks).toEqual([{ metric: 'error_rate', mode: 'absolute', max: 0.02 }]);
    expect(gate.sequential).toEqual([
      {
        metric: 'error_rate',
        alpha: 0.01,
        maxRatio: 1.2,
        promoteEarly: { alpha: 0.05, minBakeMs: 60_000 },
      },
      { metric: 'latency_p99', alpha: 0.005, maxRatio: 1.5, latencyBoundMs: 300 },
    ]);
  });

  it('leaves plans without sequential checks as they were', () => {
    const policy = parsePolicy(
      withChecks('      - { metric: error_rate, max: 0.02 }'),
      'policy.yaml',
    );
    const plan = planFromPolicy(policy, { service: 'checkout', version: '1.2.3', startedBy: 'U1' });
    expect(plan.stages[0]!.gate).not.toHaveProperty('sequential');
  });

  it.each([
    ['alpha: 0', 'alpha', 'must be in (0, 0.2], got 0'],
    ['alpha: 0.3', 'alpha', 'must be in (0, 0.2], got 0.3'],
    ['maxRatio: 0.9', 'maxRatio', 'must be at least 1'],
    ['promoteEarly: true, promoteAlpha: 0.5', 'promoteAlpha', 'must be in (0, 0.2]'],
  ])('refuses %s naming the field and its line', (fields, field, message) => {
    const text = withChecks(
      `      - metric: error_rate\n        mode: sequential\n        ${fields.includes('maxRatio') ? '' : 'maxRatio: 1.2, '}${fields}`.replace(
        /, /g,
        '\n        ',
      ),
    );
    const err = policyRefusal(text);
    expect(err.problems).toEqual([
      expect.objectContaining({
        field: `defaults.gate.checks.0.${field}`,
        message: expect.stringContaining(message),
      }),
    ]);
    const line = text.split('\n').findIndex((l) => l.trim().startsWith(`${field}:`)) + 1;
    expect(err.message).toContain(`policy.yaml:${line}: defaults.gate.checks.0.${field}:`);
  });

  it('refuses a sequential check on a metric that cannot be counted', () => {
    const err = policyRefusal(
      withChecks('      - { metric: latency_p99, mode: sequential, maxRatio: 1.2 }'),
    );
    expect(err.problems).toEqual([
      expect.objectContaining({
        field: 'defaults.gate.checks.0.metric',
        message: expect.stringMatching(/latency_p99 cannot be counted.*latencyBoundMs/),
      }),
    ]);
  });

  it('refuses a sequential check without a tolerance, and sequential fields on threshold checks', () => {
    expect(
      policyRefusal(withChecks('      - { metric: error_rate, mode: sequential }')).problems,
    ).toEqual([expect.objectContaining({ field: 'defaults.gate.checks.0.maxRatio' })]);
    expect(
      policyRefusal(withChecks('      - { metric: error_rate, max: 0.02, alpha: 0.01 }')).problems,
    ).toEqual([
      expect.objectContaining({
        field: 'defaults.gate.checks.0.alpha',
        message: 'applies only to mode: sequential',
      }),
    ]);
    expect(policyRefusal(withChecks('      - { metric: error_rate }')).problems).toEqual([
      expect.objectContaining({
        field: 'defaults.gate.checks.0.max',
        message: 'is required for an absolute check',
      }),
    ]);
  });

  it('refuses a minimum bake or promotion α without promoteEarly', () => {
    const err = policyRefusal(
      withChecks('      - { metric: error_rate, mode: sequential, maxRatio: 1.2, minBake: 2m }'),
    );
    expect(err.problems).toEqual([
      expect.objectContaining({
        field: 'defaults.gate.checks.0.minBake',
        message: 'applies only with promoteEarly: true',
      }),
    ]);
  });
});

describe('a service gate that overrides only some fields', () => {
  it('keeps the policy defaults for the rest, not the schema defaults', () => {
    const policy = parsePolicy(
      `clusters: { eu-west: {} }
defaults:
  gate: { interval: 5s, minRequests: 50, failureLimit: 3 }
services:
  checkout:
    channel: C0CHECKOUT
    clusters: [eu-west]
    gate:
      checks:
        - { metric: error_rate, mode: sequential, maxRatio: 1.2 }
`,
      'policy.yaml',
    );
    const plan = planFromPolicy(policy, { service: 'checkout', version: '1.2.3', startedBy: 'U1' });
    expect(plan.stages[0]!.gate).toMatchObject({
      intervalMs: 5_000,
      minRequests: 50,
      failureLimit: 3,
      checks: [],
      sequential: [{ metric: 'error_rate', alpha: 0.01, maxRatio: 1.2 }],
    });
  });
});
