import { afterEach, describe, expect, it } from 'vitest';
import type { Fault } from '../../shared/config/simulation.js';
import { E2E_GATE_YAML, STARTER } from '../support/e2e-policy.js';
import { waitFor } from '../support/wait-for.js';
import { waitForStatus, type RolloutHarness } from './rollout-harness.js';

/** A route write as the cluster's side saw it (the simulated cluster's write log). */
export interface SeenRouteWrite {
  at: number;
  operation: string;
  canaryWeight: number;
}

/** A harness that can also show each cluster's route writes for a service. */
export type WaveHarness = RolloutHarness & {
  routeWrites(cluster: string, service: string): Promise<SeenRouteWrite[]>;
  /** Adds a fault to one cluster while the product runs (absent where agents run as processes). */
  injectFault?(cluster: string, fault: Fault): Promise<void>;
};

const BAKE_MS = 300;

/**
 * One service in three waves (a canary cluster, then one region, then the last), at e2e speed:
 * the same gate as the e2e policy, stages 5, 50, 100.
 */
export function wavePolicyYaml(faults: Fault[] = []): string {
  return `
clusters:
  staging: {}
  eu-west: {}
  us-east: {}
defaults:
  stages: [5, 50, 100]
  bake: ${BAKE_MS}ms
  waves: [[staging], [eu-west], [us-east]]
${E2E_GATE_YAML}services:
  checkout:
    channel: C0CHECKOUT
    oncall: S0ONCALL
    clusters: [staging, eu-west, us-east]
    stableVersion: 2.4.0
simulation:
  seed: 7
  traffic:
    requestsPerSecond: 20000
  faults: ${JSON.stringify(faults)}
`;
}

const ENDED = ['succeeded', 'rolled_back', 'failed', 'aborted'] as const;

/** Issue 12, item 2: waves within one rollout, end to end. */
export function describeWaveScenarios(
  mode: string,
  start: (options: { policyYaml: string }) => Promise<WaveHarness>,
  /** The harness can add a fault while the product runs (agents in this process). */
  { runtimeFaults = false }: { runtimeFaults?: boolean } = {},
): void {
  describe(`waves within one rollout (${mode})`, () => {
    let harness: WaveHarness | undefined;
    afterEach(async () => {
      await harness?.stop();
      harness = undefined;
    });

    it('runs a three-wave rollout wave after wave: each starts only once the one before passed its 100% stage', async () => {
      harness = await start({ policyYaml: wavePolicyYaml() });
      const started = await harness.service.start({
        service: 'checkout',
        version: '2.5.0',
        startedBy: STARTER,
      });
      expect(started.plan.waves).toEqual([['staging'], ['eu-west'], ['us-east']]);
      const done = await waitForStatus(harness, started.id, [...ENDED], 60_000);
      expect(done.status).toBe('succeeded');
      const writes = {
        staging: await harness.routeWrites('staging', 'checkout'),
        'eu-west': await harness.routeWrites('eu-west', 'checkout'),
        'us-east': await harness.routeWrites('us-east', 'checkout'),
      };
      const weights = (w: SeenRouteWrite[]) =>
        w.filter((x) => x.operation !== 'promote').map((x) => x.canaryWeight);
      for (const cluster of ['staging', 'eu-west', 'us-east'] as const) {
        // The agent's `start` writes the route at 0% first, then each stage's weight.
        expect(weights(writes[cluster]), cluster).toEqual([0, 5, 50, 100]);
        expect(writes[cluster].at(-1)?.operation, cluster).toBe('promote');
      }
      // A wave's first write comes after the one before reached 100% and baked there.
      const at100 = (w: SeenRouteWrite[]) => w.find((x) => x.canaryWeight === 100)!.at;
      expect(writes['eu-west'][0]!.at).toBeGreaterThanOrEqual(at100(writes.staging) + BAKE_MS);
      expect(writes['us-east'][0]!.at).toBeGreaterThanOrEqual(at100(writes['eu-west']) + BAKE_MS);
      // Nobody is promoted before the last wave passed.
      const promotions = Object.values(writes).map((w) => w.at(-1)!.at);
      expect(Math.min(...promotions)).toBeGreaterThanOrEqual(at100(writes['us-east']) + BAKE_MS);
    });

    it('rolls back waves 1 and 2 on a fault in wave 2; wave 3 never sees a router write', async () => {
      harness = await start({
        policyYaml: wavePolicyYaml([
          { cluster: 'eu-west', service: 'checkout', role: 'canary', fromStage: 1, errorRate: 0.3 },
        ]),
      });
      const started = await harness.service.start({
        service: 'checkout',
        version: '2.5.0',
        startedBy: STARTER,
      });
      const done = await waitForStatus(harness, started.id, [...ENDED], 60_000);
      expect(done.status).toBe('rolled_back');
      expect(done).toMatchObject({ waveIndex: 1, stageIndex: 1 });
      expect(done.clusters).toEqual({
        staging: expect.objectContaining({ status: 'rolled_back', weight: 0 }),
        'eu-west': expect.objectContaining({ status: 'rolled_back', weight: 0 }),
        'us-east': { status: 'pending', weight: 0, appliedStage: -1 },
      });
      expect(await harness.routerWeight('staging', 'checkout')).toBe(0);
      expect(await harness.routerWeight('eu-west', 'checkout')).toBe(0);
      const staging = await harness.routeWrites('staging', 'checkout');
      expect(staging.map((w) => w.canaryWeight)).toEqual([0, 5, 50, 100, 0]);
      expect(staging.at(-1)?.operation).toBe('rollback');
      expect(await harness.routeWrites('us-east', 'checkout')).toEqual([]);
    });

    // Only where a fault can be added mid-rollout: agent processes take theirs at start.
    if (runtimeFaults) {
      it('still watches wave 1 while wave 2 runs: a late regression there rolls back both', async () => {
        harness = await start({ policyYaml: wavePolicyYaml() });
        const h = harness;
        if (h.injectFault === undefined)
          throw new Error('this harness cannot add a fault at runtime');
        const started = await h.service.start({
          service: 'checkout',
          version: '2.5.0',
          startedBy: STARTER,
        });
        await waitFor(
          async () => {
            const state = await h.service.get(started.id);
            return state?.waveIndex === 1 ? state : undefined;
          },
          { what: 'wave 2 to start', timeoutMs: 30_000, intervalMs: 20 },
        );
        await h.injectFault('staging', { service: 'checkout', role: 'canary', errorRate: 0.3 });
        const done = await waitForStatus(h, started.id, [...ENDED], 60_000);
        expect(done.status).toBe('rolled_back');
        expect(done.waveIndex).toBe(1);
        expect(done.outcome).toContain('staging');
        expect(await h.routerWeight('staging', 'checkout')).toBe(0);
        expect(await h.routerWeight('eu-west', 'checkout')).toBe(0);
        expect(await h.routeWrites('us-east', 'checkout')).toEqual([]);
      });
    }
  });
}
