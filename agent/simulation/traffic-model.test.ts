import { describe, expect, it } from 'vitest';
import type { MetricsEffect } from './faults.js';
import { seededRandom } from './random.js';
import { DEFAULT_TRAFFIC, simulateWindow, trafficShare, type RouteSplit } from './traffic-model.js';

const HEALTHY: MetricsEffect = {
  errorRate: 0,
  addedLatencyMs: 0,
  noTraffic: false,
  metricsUnavailable: false,
};

const preview: RouteSplit = {
  stableVersion: '1.0.0',
  canaryVersion: '1.1.0',
  canaryWeight: 0,
};

describe('trafficShare', () => {
  it('gives weight 0 nothing, a blue-green preview too', () => {
    expect(trafficShare(preview, '1.1.0')).toBe(0);
    expect(trafficShare(preview, '1.0.0')).toBe(1);
  });

  it('gives a mirrored preview the mirrored share, on top of stable’s full share', () => {
    const mirrored = { ...preview, mirrorPercent: 10 };
    expect(trafficShare(mirrored, '1.1.0')).toBeCloseTo(0.1);
    expect(trafficShare(mirrored, '1.0.0')).toBe(1);
  });

  it('splits by the weight otherwise, and gives an unknown version nothing', () => {
    const split = { ...preview, canaryWeight: 25 };
    expect(trafficShare(split, '1.1.0')).toBe(0.25);
    expect(trafficShare(split, '1.0.0')).toBe(0.75);
    expect(trafficShare(split, '9.9.9')).toBe(0);
  });
});

describe('simulateWindow', () => {
  it('a window at weight 0 holds 0 requests', () => {
    const m = simulateWindow({
      profile: DEFAULT_TRAFFIC,
      share: trafficShare(preview, '1.1.0'),
      windowMs: 60_000,
      effect: HEALTHY,
      random: seededRandom(1),
    });
    expect(m).toMatchObject({ status: 'ok', requests: 0 });
  });
});
