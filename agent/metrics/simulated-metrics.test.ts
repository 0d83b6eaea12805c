import { describe, expect, it } from 'vitest';
import { Measurement } from '../../shared/contracts/events.js';
import { SimulatedRouter } from '../routers/simulated-router.js';
import type { RouteTarget } from '../routers/traffic-router.js';
import type { Fault } from '../simulation/faults.js';
import { SimulatedCluster } from '../simulation/simulated-cluster.js';
import { SimulatedMetrics, slowShare } from './simulated-metrics.js';

const target: RouteTarget = {
  service: 'checkout',
  stableVersion: '2.4.0',
  canaryVersion: '2.4.1',
  strategy: 'canary',
};

async function setUp(faults: Fault[] = []) {
  const cluster = new SimulatedCluster({
    name: 'eu-west',
    services: { checkout: { stableVersion: '2.4.0' } },
    seed: 7,
    traffic: { requestsPerSecond: 2_000 },
    faults,
  });
  await new SimulatedRouter(cluster).setWeight(target, 50, {
    rolloutId: 'r-1',
    seq: 1,
    stageIndex: 0,
    strategy: 'canary',
  });
  return new SimulatedMetrics(cluster, () => 1_000_000);
}

describe('SimulatedMetrics interval counts', () => {
  it('leaves counts out unless asked', async () => {
    const metrics = await setUp();
    const m = await metrics.measure({ ...query('canary'), counts: undefined });
    expect(m).not.toHaveProperty('counts');
  });

  it('counts the window as the last whole interval of the grid, with slow requests per bound', async () => {
    const metrics = await setUp();
    const m = Measurement.parse(await metrics.measure(query('stable')));
    if (m.status !== 'ok' || !m.counts) throw new Error('expected counts');
    // The last whole minute of the grid before now (1,000,000 ms).
    expect(m.counts).toMatchObject({ fromMs: 900_000, toMs: 960_000, requests: m.requests });
    const slow = m.counts.slow!.find((s) => s.boundMs === 220)!;
    // The default profile's p99 is 220 ms: about 1% of requests are slower.
    expect(slow.count / m.requests).toBeCloseTo(0.01, 2);
  });

  it('reports each grid interval once', async () => {
    const metrics = await setUp();
    expect(await metrics.measure(query('canary'))).toHaveProperty('counts');
    expect(await metrics.measure(query('canary'))).not.toHaveProperty('counts');
  });

  it('counts more slow requests under an injected latency fault', async () => {
    const metrics = await setUp([{ role: 'canary', addedLatencyMs: 100 }]);
    const m = await metrics.measure(query('canary'));
    if (m.status !== 'ok' || !m.counts) throw new Error('expected counts');
    const slow = m.counts.slow!.find((s) => s.boundMs === 220)!;
    // Slower than 220 ms now means slower than 120 ms before: about 6.7% instead of 1%.
    expect(slow.count / m.requests).toBeGreaterThan(0.05);
  });

  it('fits a log-normal through p50 and p99', () => {
    const profile = { latencyMs: { p50: 40, p95: 110, p99: 220 } } as Parameters<
      typeof slowShare
    >[0];
    expect(slowShare(profile, 220)).toBeCloseTo(0.01, 4);
    expect(slowShare(profile, 40)).toBeCloseTo(0.5, 4);
    expect(slowShare(profile, 0)).toBe(1);
  });
});

function query(role: 'canary' | 'stable') {
  return {
    service: 'checkout',
    version: role === 'canary' ? '2.4.1' : '2.4.0',
    role,
    windowMs: 60_000,
    counts: { slowBoundsMs: [220, 500] },
  } as const;
}
