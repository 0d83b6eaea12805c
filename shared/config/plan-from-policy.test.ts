import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  nearestNames,
  PlanError,
  planFromPolicy,
  type RolloutRequest,
} from './plan-from-policy.js';
import { parsePolicy } from './policy-loader.js';

const policy = parsePolicy(
  readFileSync(new URL('../../config/policy.yaml', import.meta.url), 'utf8'),
  'policy.yaml',
);

function request(overrides: Partial<RolloutRequest> = {}): RolloutRequest {
  return { service: 'checkout', version: '2.4.1', startedBy: 'U0ALICE', ...overrides };
}

function refusal(overrides: Partial<RolloutRequest>): PlanError {
  try {
    planFromPolicy(policy, request(overrides));
  } catch (err) {
    if (err instanceof PlanError) return err;
    throw err;
  }
  throw new Error('expected the request to be refused');
}

describe('planFromPolicy', () => {
  it('carries a blue-green service’s mirror and its gate’s webhooks into the plan', () => {
    const plan = planFromPolicy(policy, request({ service: 'search', version: '7.2.0' }));
    expect(plan).toMatchObject({ strategy: 'blue-green', mirrorPercent: 10 });
    const withHooks = parsePolicy(
      `
clusters: { eu-west: {} }
defaults:
  gate:
    minRequests: 7
    webhooks: [{ name: smoke, url: "http://smoke.test/run", timeout: 2s, retries: 1 }]
services:
  search:
    channel: C0SEARCH
    clusters: [eu-west]
    strategy: blue-green
    stages: [0, 100]
    gate: { interval: 1s }
`,
      'policy.yaml',
    );
    const gate = planFromPolicy(withHooks, request({ service: 'search', version: '7.2.0' }))
      .stages[0]!.gate;
    // The service's gate overrides field by field: the rest comes from defaults.gate.
    expect(gate).toMatchObject({ intervalMs: 1_000, minRequests: 7 });
    expect(gate.webhooks).toEqual([
      {
        name: 'smoke',
        url: 'http://smoke.test/run',
        timeoutMs: 2_000,
        retries: 1,
        expect: { status: 200 },
      },
    ]);
  });

  describe('consumers watched while a provider rolls out', () => {
    const withConsumers = parsePolicy(
      `
clusters: { eu-west: {}, us-east: {} }
defaults:
  gate:
    minRequests: 50
    checks:
      - { metric: error_rate, mode: absolute, max: 0.02 }
      - { metric: latency_p99, mode: sequential, maxRatio: 1.2, latencyBoundMs: 300 }
services:
  payments:
    channel: C0PAY
    clusters: [eu-west, us-east]
    stableVersion: 2.0.0
    overrides: { clusters: true }
  checkout:
    channel: C0CHECKOUT
    clusters: [eu-west]
    dependsOn: [payments]
    gate:
      checks: [{ metric: latency_p99, mode: relative, max: 1.5 }]
  cart: { channel: C0CART, clusters: [us-east], dependsOn: [payments] }
  search: { channel: C0SEARCH, clusters: [eu-west] }
`,
      'policy.yaml',
    );

    it('lists each consumer with its own threshold checks and the clusters it shares', () => {
      const plan = planFromPolicy(
        withConsumers,
        request({ service: 'payments', version: '2.1.0' }),
      );
      expect(plan.dependents).toEqual([
        {
          service: 'checkout',
          clusters: ['eu-west'],
          checks: [{ metric: 'latency_p99', mode: 'relative', max: 1.5 }],
          minRequests: 50,
        },
        // Its sequential check needs a canary of cart's own: only the threshold one is used.
        {
          service: 'cart',
          clusters: ['us-east'],
          checks: [{ metric: 'error_rate', mode: 'absolute', max: 0.02 }],
          minRequests: 50,
        },
      ]);
    });

    it('leaves out consumers outside the rollout’s clusters, and services nobody calls', () => {
      const euOnly = planFromPolicy(
        withConsumers,
        request({ service: 'payments', version: '2.1.0', clusters: ['eu-west'] }),
      );
      expect(euOnly.dependents?.map((d) => d.service)).toEqual(['checkout']);
      const leaf = planFromPolicy(
        withConsumers,
        request({ service: 'checkout', version: '1.1.0' }),
      );
      expect(leaf.dependents).toBeUndefined();
    });
  });

  describe('waves', () => {
    const policyWithWaves = parsePolicy(
      `
clusters: { staging: {}, eu-west: {}, us-east: {}, ap-south: {} }
defaults:
  waves: [[staging], [eu-west], [us-east, ap-south]]
services:
  checkout:
    channel: C0CHECKOUT
    clusters: [staging, eu-west, us-east, ap-south]
    overrides: { clusters: true }
  payments:
    channel: C0PAY
    clusters: [eu-west, us-east]
  search:
    channel: C0SEARCH
    clusters: [eu-west, us-east]
    waves: [[us-east], [eu-west]]
  solo:
    channel: C0SOLO
    clusters: [staging]
`,
      'policy.yaml',
    );
    const planOf = (overrides: Partial<RolloutRequest>) =>
      planFromPolicy(policyWithWaves, request(overrides));

    it('takes defaults.waves, first to last', () => {
      expect(planOf({}).waves).toEqual([['staging'], ['eu-west'], ['us-east', 'ap-south']]);
    });

    it("restricts defaults.waves to the service's clusters, dropping empty waves", () => {
      expect(planOf({ service: 'payments' }).waves).toEqual([['eu-west'], ['us-east']]);
    });

    it("takes the service's own waves over the defaults", () => {
      expect(planOf({ service: 'search' }).waves).toEqual([['us-east'], ['eu-west']]);
    });

    it('restricts the waves to the clusters a partial rollout runs in', () => {
      expect(planOf({ clusters: ['ap-south', 'staging'] }).waves).toEqual([
        ['staging'],
        ['ap-south'],
      ]);
    });

    it('leaves waves out of a plan of one wave (the plan of a policy without waves)', () => {
      expect(planOf({ service: 'solo' })).not.toHaveProperty('waves');
      expect(planOf({ clusters: ['us-east', 'ap-south'] })).not.toHaveProperty('waves');
    });

    it("takes the example policy's waves for checkout (config/policy.yaml), one wave per cluster", () => {
      expect(planFromPolicy(policy, request()).waves).toEqual([['eu-west'], ['us-east']]);
    });
  });

  it('puts no mirror on a canary plan', () => {
    expect(planFromPolicy(policy, request()).mirrorPercent).toBeUndefined();
  });

  it('fills in the service’s clusters, stages, bake, gate and approval from the policy', () => {
    const plan = planFromPolicy(policy, request());
    expect(plan).toMatchObject({
      service: 'checkout',
      stableVersion: '2.4.0',
      strategy: 'canary',
      clusters: ['eu-west', 'us-east'],
    });
    expect(plan.stages.map((s) => s.weight)).toEqual([5, 25, 50, 100]);
    expect(plan.stages[0]?.bakeMs).toBe(30_000);
    expect(plan.stages[0]?.gate).toMatchObject({
      intervalMs: 5_000,
      minRequests: 50,
      failureLimit: 2,
    });
    expect(plan.stages[2]?.gate.approval).toEqual({
      approvers: ['U0LEAD1', 'U0LEAD2', 'S0CHECKOUTLEADS'],
      required: 1,
      allowSelfApproval: false,
      remindAfterMs: 3_600_000,
      escalateAfterMs: 7_200_000,
      onTimeout: 'wait',
    });
    expect(plan.stages[1]?.gate.approval).toBeUndefined();
  });

  it('takes the stable version the bot knows over the policy’s, when given one', () => {
    expect(planFromPolicy(policy, request(), { stableVersion: '2.4.1' }).stableVersion).toBe(
      '2.4.1',
    );
    expect(planFromPolicy(policy, request(), {}).stableVersion).toBe('2.4.0');
  });

  it('lets a request make the rollout more careful: more stages, a longer bake, more approvals', () => {
    const plan = planFromPolicy(
      policy,
      request({ stages: [1, 5, 10, 25, 50, 100], bakeMs: 60_000, approveAt: [10, 50] }),
    );
    expect(plan.stages.map((s) => [s.weight, s.bakeMs, s.gate.approval !== undefined])).toEqual([
      [1, 60_000, false],
      [5, 60_000, false],
      [10, 60_000, true],
      [25, 60_000, false],
      [50, 60_000, true],
      [100, 60_000, false],
    ]);
  });

  it('uses blue-green’s own stages when the strategy is switched without stages', () => {
    const mirrored = {
      ...policy,
      defaults: {
        ...policy.defaults,
        blueGreen: { mirrorPercent: 5 },
        overrides: { ...policy.defaults.overrides, strategy: true, approveAt: true },
      },
    };
    const plan = planFromPolicy(mirrored, request({ strategy: 'blue-green', approveAt: [] }));
    expect(plan.stages.map((s) => s.weight)).toEqual([0, 100]);
    expect(plan.mirrorPercent).toBe(5);
  });

  it('refuses to switch a service to blue-green when nothing could judge its preview', () => {
    // The policy lets a starter switch strategy, but gives blue-green nothing to judge with.
    const switchable = {
      ...policy,
      defaults: { ...policy.defaults, overrides: { ...policy.defaults.overrides, strategy: true } },
    };
    let err: unknown;
    try {
      planFromPolicy(switchable, request({ strategy: 'blue-green', approveAt: [] }));
    } catch (e) {
      err = e;
    }
    if (!(err instanceof PlanError)) throw new Error(`expected a PlanError, got ${String(err)}`);
    expect(err.code).toBe('invalid_plan');
    expect(err.message).toContain(
      '--strategy blue-green needs a way to judge the preview, which gets no live traffic at 0%: checkout has no services.checkout.blueGreen.mirrorPercent and no gate.webhooks',
    );
  });

  it.each([
    [
      { stages: [100], approveAt: [] },
      /--stages 100 leaves out the policy's stage\(s\) 5,25,50 \(services.checkout.stages is 5,25,50,100\)/,
    ],
    [{ bakeMs: 0 }, /--bake 0s is shorter than the policy's 30s \(defaults.bake\)/],
    [
      { approveAt: [100] },
      /leaves out the approval the policy requires at 50% \(services.checkout.approveAt\)/,
    ],
    [
      { clusters: ['us-east'] },
      /--clusters us-east leaves out eu-west \(services.checkout.clusters\); partial rollouts are not allowed/,
    ],
    [
      { strategy: 'blue-green' as const },
      /--strategy blue-green differs from the policy's canary \(defaults.strategy\)/,
    ],
  ])('refuses a request that loosens the policy (%o), naming the field', (loosened, message) => {
    const err = refusal(loosened);
    expect(err.code).toBe('override_refused');
    expect(err.message).toMatch(message);
    expect(err.message).toContain('To allow it, set defaults.overrides');
  });

  it('judges another strategy the policy allows against that strategy’s own stages', () => {
    const strategyOnly = parsePolicy(
      readFileSync(new URL('../../config/policy.yaml', import.meta.url), 'utf8').replace(
        '    stableVersion: 7.1.0',
        '    stableVersion: 7.1.0\n    overrides: { strategy: true }',
      ),
      'policy.yaml',
    );
    const search = { service: 'search', version: '7.2.0', startedBy: 'U0ALICE' };
    // Allowed: a canary with a canary's stages.
    expect(planFromPolicy(strategyOnly, { ...search, strategy: 'canary' }).strategy).toBe('canary');
    // Not allowed by it: a canary straight to 100%.
    expect(() =>
      planFromPolicy(strategyOnly, { ...search, strategy: 'canary', stages: [100] }),
    ).toThrow(
      /--stages 100 leaves out the policy's stage\(s\) 5,25,50 \(canary's stages is 5,25,50,100\)/,
    );
  });

  it('applies loosening flags the policy allows in services.<name>.overrides', () => {
    const lenient = parsePolicy(
      readFileSync(new URL('../../config/policy.yaml', import.meta.url), 'utf8').replace(
        '    stableVersion: 2.4.0',
        '    stableVersion: 2.4.0\n    overrides: { stages: true, bake: true, approveAt: true, clusters: true }',
      ),
      'policy.yaml',
    );
    const plan = planFromPolicy(
      lenient,
      request({ clusters: ['us-east'], stages: [10, 100], bakeMs: 0, approveAt: [] }),
    );
    expect(plan.clusters).toEqual(['us-east']);
    expect(plan.stages.map((s) => [s.weight, s.bakeMs, s.gate.approval])).toEqual([
      [10, 0, undefined],
      [100, 0, undefined],
    ]);
    expect(() => planFromPolicy(lenient, request({ strategy: 'blue-green' }))).toThrow(
      /--strategy blue-green differs.*set services.checkout.overrides/,
    );
  });

  it('names the nearest known services for a typo', () => {
    const err = refusal({ service: 'chekout' });
    expect(err.code).toBe('unknown_service');
    expect(err.message).toContain('did you mean "checkout"?');
    expect(err.message).toContain('Known services: checkout, search.');
  });

  it('refuses a malformed version with examples', () => {
    expect(refusal({ version: 'latest' }).message).toBe(
      '"latest" is not a version: write it like 2.4.1, v2.4.1 or 2.4.1-rc.1',
    );
  });

  it('refuses a cluster the service does not run in, listing the ones it does', () => {
    const err = refusal({ service: 'search', clusters: ['us-east'] });
    expect(err.code).toBe('unknown_cluster');
    expect(err.message).toBe('search does not run in us-east; its clusters are eu-west');
  });

  it('refuses stages that do not increase or do not end at 100', () => {
    expect(refusal({ stages: [50, 25, 100], approveAt: [] }).message).toContain(
      'canary stages must increase, got 50,25,100',
    );
    expect(refusal({ stages: [5, 25], approveAt: [] }).message).toContain(
      'the last stage must be 100, got 5,25',
    );
  });

  it('refuses what breaks the plan schema (a version over 128 characters) with a plan error, not a schema error', () => {
    const err = refusal({ version: `2.4.1-${'a'.repeat(300)}` });
    expect(err.code).toBe('invalid_plan');
    expect(err.message).toContain('version: ');
  });

  it('refuses an approval point that is not a stage', () => {
    expect(refusal({ approveAt: [30] }).message).toContain(
      '--approve-at 30 is not one of the stages 5,25,50,100',
    );
  });
});

describe('nearestNames', () => {
  it('ranks by edit distance and ignores names that are far off', () => {
    expect(nearestNames('serch', ['searcher', 'checkout', 'search'])).toEqual(['search']);
    expect(nearestNames('check', ['search', 'checkout'])).toEqual(['checkout']);
    expect(nearestNames('billing', ['search', 'checkout'])).toEqual([]);
  });
});
