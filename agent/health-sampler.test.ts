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
    ...(options.policy !== undefined && {
      sequentialByService: { checkout: options.policy.build().sequential ?? [] },
    }),
  });
  return { health, queries, published };
}

describe('HealthSampler batches', () => {
  /** A sampler with `n` active rollouts whose stage is known. */
  function samplerOf(n: number) {
    const published: RolloutEvent[] = [];
    const table = new RolloutTable();
    for (let i = 0; i < n; i++) {
      table.set({
        rolloutId: `r-${i}`,
        service: `svc-${i}`,
        target: {
          service: `svc-${i}`,
          stableVersion: '1.0.0',
          canaryVersion: '1.1.0',
          strategy: 'canary',
        },
        stages: aPlan().build().stages,
        stageIndex: 0,
        active: true,
        paused: false,
        handledSeq: 1,
        appliedSeq: 1,
      });
    }
    // An active rollout whose stage is unknown is not sampled.
    table.set({ ...table.get('r-0')!, rolloutId: 'r-unknown', stageIndex: undefined });
    const health = new HealthSampler({
      metrics: {
        measure: async () => ({
          status: 'ok',
          requests: 1,
          errors: 0,
          latencyMs: { p50: 1, p95: 1, p99: 1 },
        }),
      },
      events: {
        publish: async (e) => void published.push(e),
        subscribe: () => Promise.reject(new Error('not used')),
      },
      envelopes: new EventFactory('eu-west', { now: () => 1_000 }),
      cluster: 'eu-west',
      table,
      logger: silentLogger,
      windowMs: 5_000,
    });
    return { health, published };
  }

  it('sends one message per interval with every rollout’s sample, about the cluster', async () => {
    const { health, published } = samplerOf(3);
    await health.sampleAll();
    expect(published).toHaveLength(1);
    const [batch] = published;
    if (batch?.type !== 'health_samples') throw new Error(`expected a batch, got ${batch?.type}`);
    expect(batch).toMatchObject({ rolloutId: null, cluster: 'eu-west' });
    expect(batch.payload.samples.map((s) => s.rolloutId)).toEqual(['r-0', 'r-1', 'r-2']);
    expect(batch.payload.samples[0]).toMatchObject({
      at: new Date(1_000).toISOString(),
      stageIndex: 0,
      windowMs: 5_000,
      canary: { status: 'ok' },
    });
  });

  it('splits a large interval into bounded messages with increasing seqs', async () => {
    const { health, published } = samplerOf(450);
    await health.sampleAll();
    const sizes = published.map((e) =>
      e.type === 'health_samples' ? e.payload.samples.length : 0,
    );
    expect(sizes).toEqual([200, 200, 50]);
    const seqs = published.map((e) => e.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(new Set(seqs).size).toBe(3);
  });

  it('sends nothing when no rollout is due', async () => {
    const { health, published } = samplerOf(0);
    await health.sampleAll();
    expect(published).toEqual([]);
  });
});

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
