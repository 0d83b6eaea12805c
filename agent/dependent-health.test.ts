import { describe, expect, it } from 'vitest';
import type { Measurement } from '../shared/contracts/events.js';
import { measured } from '../test/support/plan-builders.js';
import { DependentHealth } from './dependent-health.js';
import type { MeasureQuery } from './metrics/metrics-provider.js';
import type { RouteState } from './routers/traffic-router.js';
import type { TrackedRollout } from './rollout-table.js';

function rollout(overrides: Partial<TrackedRollout> = {}): TrackedRollout {
  return {
    rolloutId: 'r-1',
    service: 'payments',
    dependents: ['checkout'],
    stageIndex: 0,
    active: true,
    paused: false,
    handledSeq: 1,
    appliedSeq: 1,
    ...overrides,
  };
}

/** A cluster where checkout runs `routes.checkout` and each measurement is the next of `answers`. */
function cluster(answers: Measurement[]) {
  const routes: Record<string, RouteState | Error | undefined> = {
    checkout: { canaryWeight: 0, stableVersion: '3.0.0' },
  };
  const queries: MeasureQuery[] = [];
  const health = new DependentHealth({
    metrics: {
      measure: async (q) => {
        queries.push(q);
        return answers.shift() ?? measured();
      },
    },
    router: {
      read: async (service) => {
        const route = routes[service];
        if (route instanceof Error) throw route;
        return route;
      },
    },
    dependentsByService: { payments: ['checkout', 'cart'] },
  });
  return { health, routes, queries };
}

describe('DependentHealth', () => {
  it('measures each consumer’s stable version and sends its first window as the baseline', async () => {
    const { health, queries } = cluster([measured({ errors: 1 }), measured({ errors: 90 })]);
    const first = await health.measure(rollout(), 5_000);
    expect(first).toEqual([
      { service: 'checkout', version: '3.0.0', measurement: measured({ errors: 1 }) },
    ]);
    expect(queries).toEqual([
      { service: 'checkout', version: '3.0.0', role: 'stable', windowMs: 5_000 },
    ]);
    const second = await health.measure(rollout(), 5_000);
    expect(second).toEqual([
      {
        service: 'checkout',
        version: '3.0.0',
        measurement: measured({ errors: 90 }),
        baseline: measured({ errors: 1 }),
      },
    ]);
  });

  it('starts a new baseline when the consumer’s version changes, and forgets ended rollouts', async () => {
    const { health, routes } = cluster([
      measured({ errors: 1 }),
      measured({ errors: 2 }),
      measured(),
    ]);
    await health.measure(rollout(), 5_000);
    routes.checkout = { canaryWeight: 0, stableVersion: '3.1.0' };
    const afterUpgrade = await health.measure(rollout(), 5_000);
    expect(afterUpgrade[0]).toEqual({
      service: 'checkout',
      version: '3.1.0',
      measurement: measured({ errors: 2 }),
    });
    health.keepOnly(new Set());
    expect((await health.measure(rollout(), 5_000))[0]?.baseline).toBeUndefined();
  });

  it('marks a consumer that is mid-rollout here as changing, without measuring it', async () => {
    const { health, routes, queries } = cluster([]);
    routes.checkout = { canaryWeight: 5, stableVersion: '3.0.0', canaryVersion: '3.1.0' };
    const [sample] = await health.measure(rollout(), 5_000);
    expect(sample).toMatchObject({ service: 'checkout', version: '3.0.0', changing: true });
    expect(queries).toEqual([]);
  });

  it('reports a consumer it cannot find or read as unavailable, never as healthy', async () => {
    const { health, routes } = cluster([]);
    routes.checkout = new Error('HTTPRoute checkout: 403 forbidden');
    const found = await health.measure(rollout({ dependents: ['checkout', 'cart'] }), 5_000);
    expect(found).toEqual([
      {
        service: 'checkout',
        version: 'unknown',
        measurement: {
          status: 'unavailable',
          reason: 'cannot read its route: HTTPRoute checkout: 403 forbidden',
        },
      },
      {
        service: 'cart',
        version: 'unknown',
        measurement: { status: 'unavailable', reason: 'no route for it in this cluster' },
      },
    ]);
  });

  it('falls back on the policy’s consumers for a rollout recovered without its start', async () => {
    const { health } = cluster([]);
    const recovered = rollout();
    delete recovered.dependents;
    expect(health.watched(recovered)).toEqual(['checkout', 'cart']);
    expect(health.watched(rollout({ dependents: [] }))).toEqual([]);
  });
});
