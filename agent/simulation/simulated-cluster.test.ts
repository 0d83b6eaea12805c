import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parsePolicy } from '../../shared/config/policy-loader.js';
import { planFromPolicy } from '../../shared/config/plan-from-policy.js';
import { isRolloutError } from '../../shared/errors.js';
import { applicableGate, judgedWithoutLiveTraffic } from '../../shared/gate/applicable.js';
import { evaluateGate } from '../../shared/gate/evaluate.js';
import { SimulatedMetrics } from '../metrics/simulated-metrics.js';
import { SimulatedRouter } from '../routers/simulated-router.js';
import type { AppliedMark, RouteTarget } from '../routers/traffic-router.js';
import { Fault } from './faults.js';
import {
  SimulatedCluster,
  SimulationSettings,
  type SimulatedClusterOptions,
} from './simulated-cluster.js';

const target: RouteTarget = {
  service: 'checkout',
  stableVersion: '2.4.0',
  canaryVersion: '2.4.1',
  strategy: 'canary',
};
const mark = (seq: number): AppliedMark => ({
  rolloutId: 'r-1',
  seq,
  stageIndex: Math.max(0, seq - 2),
  strategy: 'canary',
});
const WINDOW = 60_000; // 200 rps × 60 s = 12,000 requests: enough that noise stays small

function simulated(options: Partial<SimulatedClusterOptions> = {}) {
  const cluster = new SimulatedCluster({
    name: 'eu-west',
    services: { checkout: { stableVersion: '2.4.0' } },
    seed: 42,
    ...options,
  });
  return { cluster, router: new SimulatedRouter(cluster), metrics: new SimulatedMetrics(cluster) };
}

async function okMeasure(metrics: SimulatedMetrics, role: 'canary' | 'stable', windowMs = WINDOW) {
  const version = role === 'canary' ? target.canaryVersion : target.stableVersion;
  const m = await metrics.measure({ service: 'checkout', version, role, windowMs });
  if (m.status !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(m)}`);
  return m;
}

describe('simulated traffic', () => {
  it('splits requests by the canary weight: rate × window × share, with noise', async () => {
    const { router, metrics } = simulated();
    await router.setWeight(target, 5, mark(1));
    const canary = await okMeasure(metrics, 'canary');
    const stable = await okMeasure(metrics, 'stable');
    expect(canary.requests).toBeGreaterThan(12_000 * 0.05 * 0.85);
    expect(canary.requests).toBeLessThan(12_000 * 0.05 * 1.15);
    expect(stable.requests).toBeGreaterThan(12_000 * 0.95 * 0.95);
    expect(stable.requests).toBeLessThan(12_000 * 0.95 * 1.05);
  });

  it('has a small base error rate and the configured latency when healthy', async () => {
    const { router, metrics } = simulated();
    await router.setWeight(target, 50, mark(1));
    const m = await okMeasure(metrics, 'canary');
    expect(m.errors / m.requests).toBeLessThan(0.006);
    expect(m.latencyMs.p50).toBeGreaterThan(30);
    expect(m.latencyMs.p50).toBeLessThan(50);
    expect(m.latencyMs.p99).toBeLessThan(300);
  });

  it('sends no traffic to weight 0, a blue-green preview included: nothing invents requests for it', async () => {
    const { router, metrics } = simulated();
    await router.setWeight(target, 0, mark(1));
    expect((await okMeasure(metrics, 'canary')).requests).toBe(0);
    await router.setWeight({ ...target, strategy: 'blue-green' }, 0, mark(2));
    expect((await okMeasure(metrics, 'canary')).requests).toBe(0);
    expect((await okMeasure(metrics, 'stable')).requests).toBeGreaterThan(12_000 * 0.95);
  });

  it('mirrors a share of requests to a blue-green preview; stable still serves them all', async () => {
    const { cluster, router, metrics } = simulated();
    const state = await router.setWeight(
      { ...target, strategy: 'blue-green', mirrorPercent: 10 },
      0,
      mark(1),
    );
    expect(state.mirrorPercent).toBe(10);
    const preview = await okMeasure(metrics, 'canary');
    expect(preview.requests).toBeGreaterThan(12_000 * 0.1 * 0.85);
    expect(preview.requests).toBeLessThan(12_000 * 0.1 * 1.15);
    // Mirrored requests are copies: stable's share is not reduced by them.
    expect((await okMeasure(metrics, 'stable')).requests).toBeGreaterThan(12_000 * 0.95);
    // The switch to 100% removes the mirror.
    const switched = await router.setWeight(
      { ...target, strategy: 'blue-green', mirrorPercent: 10 },
      100,
      mark(2),
    );
    expect(switched.mirrorPercent).toBeUndefined();
    expect(cluster.route('checkout')?.mirrorPercent).toBeUndefined();
  });

  it('mirrors nothing for a canary, whatever the target says', async () => {
    const { router, metrics } = simulated();
    const state = await router.setWeight({ ...target, mirrorPercent: 10 }, 0, mark(1));
    expect(state.mirrorPercent).toBeUndefined();
    expect((await okMeasure(metrics, 'canary')).requests).toBe(0);
  });

  it('uses a service’s own request rate', async () => {
    const { router, metrics } = simulated({
      services: { checkout: { stableVersion: '2.4.0', requestsPerSecond: 10 } },
    });
    await router.setWeight(target, 100, mark(1));
    const m = await okMeasure(metrics, 'canary');
    expect(m.requests).toBeGreaterThan(600 * 0.85);
    expect(m.requests).toBeLessThan(600 * 1.15);
  });

  it('is deterministic under a seed', async () => {
    const run = async () => {
      const { router, metrics } = simulated({ seed: 7 });
      await router.setWeight(target, 25, mark(1));
      return [
        await okMeasure(metrics, 'canary', 10_000),
        await okMeasure(metrics, 'stable', 10_000),
      ];
    };
    expect(await run()).toEqual(await run());
  });
});

describe('simulated faults', () => {
  it('an injected 10% error rate shows up as about 10% of the canary’s requests', async () => {
    const { cluster, router, metrics } = simulated();
    await router.setWeight(target, 50, mark(1));
    cluster.injectFault({ version: '2.4.1', errorRate: 0.1 });
    const canary = await okMeasure(metrics, 'canary');
    const stable = await okMeasure(metrics, 'stable');
    expect(canary.errors / canary.requests).toBeGreaterThan(0.09);
    expect(canary.errors / canary.requests).toBeLessThan(0.115);
    expect(stable.errors / stable.requests).toBeLessThan(0.006);
  });

  it('a fault via another service’s canary grows with that canary’s weight, and is gone without one', async () => {
    const { cluster, router, metrics } = simulated({
      services: { checkout: { stableVersion: '2.4.0' }, cart: { stableVersion: '5.0.0' } },
    });
    cluster.injectFault({ service: 'cart', viaCanaryOf: 'checkout', errorRate: 0.4 });
    const cartErrors = async () => {
      const m = await metrics.measure({
        service: 'cart',
        version: '5.0.0',
        role: 'stable',
        windowMs: WINDOW,
      });
      if (m.status !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(m)}`);
      return m.errors / m.requests;
    };
    // checkout has no canary: cart's calls all reach the stable version.
    expect(await cartErrors()).toBeLessThan(0.006);
    await router.setWeight(target, 50, mark(1));
    const atHalf = await cartErrors();
    expect(atHalf).toBeGreaterThan(0.18);
    expect(atHalf).toBeLessThan(0.23);
    await router.rollback(target, mark(2));
    expect(await cartErrors()).toBeLessThan(0.006);
  });

  it('adds latency to every percentile of the faulty version', async () => {
    const { cluster, router, metrics } = simulated();
    await router.setWeight(target, 50, mark(1));
    cluster.injectFault({ role: 'canary', addedLatencyMs: 500 });
    const canary = await okMeasure(metrics, 'canary');
    expect(canary.latencyMs.p50).toBeGreaterThan(500);
    expect(canary.latencyMs.p99).toBeGreaterThan(700);
    expect((await okMeasure(metrics, 'stable')).latencyMs.p99).toBeLessThan(300);
  });

  it('noTraffic means zero requests; metricsUnavailable is reported, not zeros', async () => {
    const { cluster, router, metrics } = simulated();
    await router.setWeight(target, 50, mark(1));
    cluster.injectFault({ role: 'canary', noTraffic: true });
    expect((await okMeasure(metrics, 'canary')).requests).toBe(0);
    cluster.clearFaults();
    cluster.injectFault({ metricsUnavailable: true });
    const m = await metrics.measure({
      service: 'checkout',
      version: '2.4.0',
      role: 'stable',
      windowMs: WINDOW,
    });
    expect(m).toMatchObject({
      status: 'unavailable',
      reason: expect.stringContaining('injected fault'),
    });
  });

  it('applies a fault only in the cluster it names', async () => {
    const { router, metrics } = simulated({
      faults: [
        { cluster: 'us-east', errorRate: 0.5 },
        { cluster: 'eu-west', addedLatencyMs: 100 },
      ],
    });
    await router.setWeight(target, 50, mark(1));
    const canary = await okMeasure(metrics, 'canary');
    expect(canary.errors / canary.requests).toBeLessThan(0.006);
    expect(canary.latencyMs.p50).toBeGreaterThan(100);
  });

  it('starts a fault at a stage index: start is stage -1, each newer setWeight the next stage', async () => {
    const { router, metrics } = simulated({
      faults: [{ version: '2.4.1', fromStage: 1, errorRate: 0.2 }],
    });
    const rate = async () => {
      const m = await okMeasure(metrics, 'canary');
      return m.errors / m.requests;
    };
    await router.setWeight(target, 0, mark(1)); // start
    await router.setWeight(target, 5, mark(2)); // stage 0
    expect(await rate()).toBeLessThan(0.02);
    await router.setWeight(target, 5, mark(2)); // the same command again: still stage 0
    expect(await rate()).toBeLessThan(0.02);
    await router.setWeight(target, 25, mark(3)); // stage 1
    expect(await rate()).toBeGreaterThan(0.15);
  });

  it('fails router calls with injected_fault, changes nothing, and recovers when cleared', async () => {
    const { cluster, router } = simulated();
    await router.setWeight(target, 5, mark(1));
    const id = cluster.injectFault({ routerFailure: ['setWeight'] });
    const err = await router.setWeight(target, 25, mark(2)).catch((e: unknown) => e);
    expect(isRolloutError(err, 'injected_fault')).toBe(true);
    expect((err as Error).message).toContain(id);
    expect(await router.read('checkout')).toMatchObject({ canaryWeight: 5, applied: mark(1) });
    await expect(router.rollback(target, mark(3))).resolves.toMatchObject({ canaryWeight: 0 });
    cluster.clearFaults(id);
    await expect(router.setWeight(target, 25, mark(4))).resolves.toMatchObject({
      canaryWeight: 25,
    });
  });

  it('a router failure from a stage lets earlier stages apply', async () => {
    const { router } = simulated({ faults: [{ routerFailure: true, fromStage: 1 }] });
    await router.setWeight(target, 0, mark(1));
    await router.setWeight(target, 5, mark(2));
    await expect(router.setWeight(target, 25, mark(3))).rejects.toMatchObject({
      code: 'injected_fault',
    });
  });

  it('refuses a fault that does nothing', () => {
    expect(Fault.safeParse({ version: '2.4.1' }).success).toBe(false);
    const { cluster } = simulated();
    expect(() => cluster.injectFault({ service: 'checkout' })).toThrow(/at least one of/);
  });
});

describe('simulation settings', () => {
  it('reads traffic, faults and seed from configuration', async () => {
    const settings = SimulationSettings.parse({
      seed: 5,
      traffic: { requestsPerSecond: 50, baseErrorRate: 0.01 },
      faults: [{ service: 'checkout', version: '2.4.1', fromStage: 2, errorRate: 0.05 }],
    });
    const { cluster } = simulated(settings);
    expect(cluster.trafficOf('search')).toMatchObject({
      requestsPerSecond: 50,
      baseErrorRate: 0.01,
    });
    expect(cluster.listFaults()).toHaveLength(1);
  });

  it('refuses settings that make no sense, saying which field', () => {
    expect(SimulationSettings.safeParse({ faults: [{ errorRate: 2 }] }).success).toBe(false);
    expect(SimulationSettings.safeParse({ traffic: { rps: 5 } }).success).toBe(false);
    expect(() => simulated({ traffic: { latencyMs: { p50: 300, p95: 100, p99: 50 } } })).toThrow(
      /traffic:.*p50 ≤ p95 ≤ p99/s,
    );
  });
});

describe('simulated cluster state file', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a new instance on the same file finds the routes as they were left', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sim-cluster-'));
    const stateFile = join(dir, 'nested', 'eu-west.json');
    await simulated({ stateFile }).router.setWeight(target, 25, mark(3));
    const again = simulated({ stateFile, services: { checkout: { stableVersion: 'ignored' } } });
    expect(await again.router.read('checkout')).toEqual({
      canaryWeight: 25,
      stableVersion: '2.4.0',
      canaryVersion: '2.4.1',
      applied: mark(3),
    });
  });

  it('logs every router write with its time and mark, across a restart (what tests count applies by)', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sim-cluster-'));
    const stateFile = join(dir, 'eu-west.json');
    let now = 1_000;
    const first = simulated({ stateFile, now: () => now });
    await first.router.setWeight(target, 0, mark(1));
    now = 2_000;
    await first.router.setWeight(target, 5, mark(2));
    await first.router.read('checkout'); // reads are not writes
    const again = simulated({ stateFile, now: () => 3_000 });
    await again.router.rollback(target, mark(3));
    expect(again.cluster.routeWrites()).toEqual([
      {
        at: 1_000,
        service: 'checkout',
        operation: 'setWeight',
        rolloutId: 'r-1',
        seq: 1,
        canaryWeight: 0,
        stageIndex: -1,
      },
      {
        at: 2_000,
        service: 'checkout',
        operation: 'setWeight',
        rolloutId: 'r-1',
        seq: 2,
        canaryWeight: 5,
        stageIndex: 0,
      },
      {
        at: 3_000,
        service: 'checkout',
        operation: 'rollback',
        rolloutId: 'r-1',
        seq: 3,
        canaryWeight: 0,
        stageIndex: 0,
      },
    ]);
  });

  it('refuses a corrupt file or another cluster’s file, naming the file', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sim-cluster-'));
    const stateFile = join(dir, 'state.json');
    writeFileSync(stateFile, '{ not json');
    expect(() => simulated({ stateFile })).toThrow(stateFile);
    await simulated({ stateFile: join(dir, 'us.json'), name: 'us-east' }).router.setWeight(
      target,
      5,
      mark(1),
    );
    writeFileSync(stateFile, readFileSync(join(dir, 'us.json')));
    expect(() => simulated({ stateFile })).toThrow(/holds cluster "us-east", not "eu-west"/);
  });
});

describe('the example policy (config/policy.yaml) in local mode', () => {
  it('its blue-green preview gets enough mirrored requests in one 5 s sample for its gate to pass', async () => {
    const policy = parsePolicy(
      readFileSync(new URL('../../config/policy.yaml', import.meta.url), 'utf8'),
      'config/policy.yaml',
    );
    const plan = planFromPolicy(policy, { service: 'search', version: '7.2.0', startedBy: 'U0A' });
    const cluster = new SimulatedCluster({
      name: 'eu-west',
      services: { search: { stableVersion: '7.1.0' } },
      ...policy.simulation,
    });
    const preview: RouteTarget = {
      service: 'search',
      stableVersion: '7.1.0',
      canaryVersion: '7.2.0',
      strategy: plan.strategy,
      ...(plan.mirrorPercent !== undefined && { mirrorPercent: plan.mirrorPercent }),
    };
    await new SimulatedRouter(cluster).setWeight(preview, 0, mark(1));
    const metrics = new SimulatedMetrics(cluster);
    const measure = (version: string, role: 'canary' | 'stable') =>
      metrics.measure({ service: 'search', version, role, windowMs: 5_000 });
    const stage = plan.stages[0]!;
    const verdict = evaluateGate(
      applicableGate(stage),
      [
        {
          cluster: 'eu-west',
          canary: await measure('7.2.0', 'canary'),
          stable: await measure('7.1.0', 'stable'),
        },
      ],
      0,
      ['eu-west'],
      { webhooksSuffice: judgedWithoutLiveTraffic(stage) },
    );
    expect(verdict.outcome).toBe('pass');
  });
});
