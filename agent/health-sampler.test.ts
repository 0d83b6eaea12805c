import { describe, expect, it } from 'vitest';
import type { RolloutEvent } from '../shared/contracts/events.js';
import { silentLogger } from '../shared/log.js';
import { aGate, aPlan } from '../test/support/plan-builders.js';
import { EventFactory } from './event-factory.js';
import { HealthSampler } from './health-sampler.js';
import type { MeasureQuery } from './metrics/metrics-provider.js';
import { RolloutTable } from './rollout-table.js';

/** A sampler over a provider that records its queries. */
function sampler(
  gate = aGate(),
  options: { recovered?: boolean; policy?: ReturnType<typeof aGate> } = {},
) {
  const queries: MeasureQuery[] = [];
  const published: RolloutEvent[] = [];
  const table = new RolloutTable();
  table.set({
    rolloutId: 'r-1',
    service: 'checkout',
    target: {
      service: 'checkout',
      stableVersion: '2.4.0',
      canaryVersion: '2.4.1',
      strategy: 'canary',
    },
    // A rollout recovered from its route after a restart: the route says its stage, not its stages.
    ...(options.recovered ? {} : { stages: aPlan().withGate(gate).build().stages }),
    stageIndex: 0,
    active: true,
    paused: false,
    handledSeq: 1,
    appliedSeq: 1,
  });
  const health = new HealthSampler({
    metrics: {
      measure: async (q) => {
        queries.push(q);
        return { status: 'ok', requests: 1, errors: 0, latencyMs: { p50: 1, p95: 1, p99: 1 } };
      },
    },
    events: {
      publish: async (e) => {
        published.push(e);
      },
      subscribe: () => Promise.reject(new Error('not used')),
    },
    envelopes: new EventFactory('eu-west', { now: () => 1_000 }),
    cluster: 'eu-west',
    table,
    logger: silentLogger,
    windowMs: 5_000,
    router: { read: async () => undefined },
    ...(options.policy !== undefined && {
      sequentialByService: { checkout: options.policy.build().sequential ?? [] },
    }),
  });
  return { health, queries, published };
}

describe('HealthSampler and interval counts', () => {
  it('asks for no counts when the stage has no sequential checks', async () => {
    const { health, queries, published } = sampler();
    await health.sampleAll();
    expect(queries).toHaveLength(2);
    expect(queries.every((q) => q.counts === undefined)).toBe(true);
    expect(published).toHaveLength(1);
  });

  it('asks for counts with the latency bounds of the stage’s sequential checks', async () => {
    const gate = aGate().withSequential(
      { metric: 'error_rate' },
      { metric: 'latency_p99', latencyBoundMs: 300 },
      { metric: 'latency_p95', latencyBoundMs: 300 },
    );
    const { health, queries } = sampler(gate);
    await health.sampleAll();
    expect(queries.map((q) => q.counts)).toEqual([
      { slowBoundsMs: [300] },
      { slowBoundsMs: [300] },
    ]);
  });

  it('after a restart (stages unknown), asks for the counts the policy’s sequential checks need', async () => {
    const policy = aGate().withSequential({ metric: 'latency_p99', latencyBoundMs: 250 });
    const { health, queries } = sampler(aGate(), { recovered: true, policy });
    await health.sampleAll();
    expect(queries.map((q) => q.counts)).toEqual([
      { slowBoundsMs: [250] },
      { slowBoundsMs: [250] },
    ]);
  });
});
