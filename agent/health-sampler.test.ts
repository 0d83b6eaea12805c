import { describe, expect, it } from 'vitest';
import type { RolloutEvent } from '../shared/contracts/events.js';
import { silentLogger } from '../shared/log.js';
import { aGate, aPlan } from '../test/support/plan-builders.js';
import { EventFactory } from './event-factory.js';
import { HealthSampler } from './health-sampler.js';
import type { MeasureQuery, MetricsProvider } from './metrics/metrics-provider.js';
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
      measure: () => Promise.reject(new Error('the sampler measures in batches')),
      measureAll: async (qs) => {
        queries.push(...qs);
        return qs.map(() => ({
          status: 'ok',
          requests: 1,
          errors: 0,
          latencyMs: { p50: 1, p95: 1, p99: 1 },
        }));
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

describe('HealthSampler batches', () => {
  /** A sampler with `n` active rollouts whose stage is known. */
  function samplerOf(n: number, failing?: MetricsProvider['measureAll']) {
    const published: RolloutEvent[] = [];
    const calls: (readonly MeasureQuery[])[] = [];
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
        measure: () => Promise.reject(new Error('the sampler measures in batches')),
        measureAll: async (qs) => {
          calls.push(qs);
          if (failing) return failing(qs);
          return qs.map((q) => ({
            status: 'ok' as const,
            requests: q.role === 'canary' ? 10 : 90,
            errors: 0,
            latencyMs: { p50: 1, p95: 1, p99: 1 },
          }));
        },
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
      router: { read: async () => undefined },
    });
    return { health, published, calls };
  }

  it('measures every rollout’s canary and stable in one provider call, and sends one message with every rollout’s sample, about the cluster', async () => {
    const { health, published, calls } = samplerOf(3);
    await health.sampleAll();
    expect(calls).toHaveLength(1);
    expect(calls[0]!.map((q) => `${q.service} ${q.version} ${q.role}`)).toEqual([
      'svc-0 1.1.0 canary',
      'svc-0 1.0.0 stable',
      'svc-1 1.1.0 canary',
      'svc-1 1.0.0 stable',
      'svc-2 1.1.0 canary',
      'svc-2 1.0.0 stable',
    ]);
    expect(published).toHaveLength(1);
    const [batch] = published;
    if (batch?.type !== 'health_samples') throw new Error(`expected a batch, got ${batch?.type}`);
    expect(batch).toMatchObject({ rolloutId: null, cluster: 'eu-west' });
    expect(batch.payload.samples.map((s) => s.rolloutId)).toEqual(['r-0', 'r-1', 'r-2']);
    // Each measurement lands with its own rollout and role.
    expect(batch.payload.samples[0]).toMatchObject({
      at: new Date(1_000).toISOString(),
      stageIndex: 0,
      windowMs: 5_000,
      canary: { status: 'ok', requests: 10 },
      stable: { status: 'ok', requests: 90 },
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

  it('sends nothing, and asks the provider nothing, when no rollout is due', async () => {
    const { health, published, calls } = samplerOf(0);
    await health.sampleAll();
    expect(published).toEqual([]);
    expect(calls).toEqual([]);
  });

  it('a provider that rejects or miscounts makes every sample unavailable, never throws', async () => {
    for (const measureAll of [
      () => Promise.reject(new Error('boom')),
      async () => [{ status: 'unavailable' as const, reason: 'only one' }],
    ]) {
      const { health, published } = samplerOf(2, measureAll);
      await health.sampleAll();
      const [batch] = published;
      if (batch?.type !== 'health_samples') throw new Error('expected a batch');
      expect(batch.payload.samples.map((s) => [s.canary.status, s.stable.status])).toEqual([
        ['unavailable', 'unavailable'],
        ['unavailable', 'unavailable'],
      ]);
    }
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
