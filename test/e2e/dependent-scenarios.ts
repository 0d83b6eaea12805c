import { afterEach, describe, expect, it } from 'vitest';
import type { Fault } from '../../shared/config/simulation.js';
import { E2E_GATE_YAML, STARTER } from '../support/e2e-policy.js';
import { waitForStatus } from './rollout-harness.js';
import type { WaveHarness } from './wave-scenarios.js';

/**
 * checkout calls payments (`dependsOn`), both in two clusters, at e2e speed: the e2e gate's
 * checks hold payments' canary and, while it runs, checkout's stable traffic.
 */
export function dependentPolicyYaml(faults: Fault[] = []): string {
  return `
clusters:
  eu-west: {}
  us-east: {}
defaults:
  stages: [5, 50, 100]
  bake: 300ms
${E2E_GATE_YAML}services:
  payments:
    channel: C0PAYMENTS
    oncall: S0ONCALL
    clusters: [eu-west, us-east]
    stableVersion: 1.0.0
  checkout:
    channel: C0CHECKOUT
    oncall: S0ONCALL
    clusters: [eu-west, us-east]
    stableVersion: 2.4.0
    dependsOn: [payments]
simulation:
  seed: 7
  traffic:
    requestsPerSecond: 20000
  faults: ${JSON.stringify(faults)}
`;
}

const ENDED = ['succeeded', 'rolled_back', 'failed', 'aborted'] as const;

/** Issue 12, item 4: dependency-aware gates, end to end. */
export function describeDependentScenarios(
  mode: string,
  start: (options: { policyYaml: string }) => Promise<WaveHarness>,
): void {
  describe(`a provider's gate watches its consumers (${mode})`, () => {
    let harness: WaveHarness | undefined;
    afterEach(async () => {
      await harness?.stop();
      harness = undefined;
    });

    it('promotes a provider whose consumers stay healthy, having judged them at every stage', async () => {
      harness = await start({ policyYaml: dependentPolicyYaml() });
      const started = await harness.service.start({
        service: 'payments',
        version: '1.1.0',
        startedBy: STARTER,
      });
      expect(started.plan.dependents?.map((d) => d.service)).toEqual(['checkout']);
      const done = await waitForStatus(harness, started.id, [...ENDED], 60_000);
      expect(done.status).toBe('succeeded');
      // The last evaluation judged checkout in both clusters, and it passed.
      const judged = done.gate.lastVerdict?.checks.filter((c) => c.kind === 'dependent') ?? [];
      expect(new Set(judged.map((c) => c.cluster))).toEqual(new Set(['eu-west', 'us-east']));
      expect(
        judged.every((c) => c.passed && c.kind === 'dependent' && c.service === 'checkout'),
      ).toBe(true);
      expect(await harness.routeWrites('eu-west', 'checkout')).toEqual([]);
    });

    it('rolls the provider back when its consumer’s stable error rate rises with the canary, naming both', async () => {
      // checkout's calls fail when they reach payments 1.1.0: 40% of them, scaled by its share.
      harness = await start({
        policyYaml: dependentPolicyYaml([
          { service: 'checkout', role: 'stable', viaCanaryOf: 'payments', errorRate: 0.4 },
        ]),
      });
      const started = await harness.service.start({
        service: 'payments',
        version: '1.1.0',
        startedBy: STARTER,
      });
      const done = await waitForStatus(harness, started.id, [...ENDED], 60_000);
      expect(done.status).toBe('rolled_back');
      // At 5% checkout sees 2% more errors, within its 5%; at 50%, 20%: caught there.
      expect(done.stageIndex).toBe(1);
      expect(await harness.routerWeight('eu-west', 'payments')).toBe(0);
      expect(await harness.routerWeight('us-east', 'payments')).toBe(0);
      // payments' own canary was healthy: only checkout's checks failed.
      const failed = done.gate.lastVerdict?.checks.filter((c) => !c.passed) ?? [];
      expect(failed.length).toBeGreaterThan(0);
      expect(failed.every((c) => c.kind === 'dependent' && c.service === 'checkout')).toBe(true);
      const alert = harness.notifier
        .alerts(started.id)
        .find((a) => a.message.includes('consumer checkout'));
      expect(alert?.message).toMatch(/payments/);
      expect(alert?.message).toMatch(
        /consumer checkout 2\.4\.0 \(unchanged\) error_rate \d+\.\d% > 5\.0%/,
      );
      // The consumer itself was never touched: only its provider goes back.
      expect(await harness.routeWrites('eu-west', 'checkout')).toEqual([]);
    });
  });
}
