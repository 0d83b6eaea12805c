import { describe, expect, it } from 'vitest';
import type { HealthSamplesEvent } from '../shared/contracts/events.js';
import { RolloutError } from '../shared/errors.js';
import { silentLogger } from '../shared/log.js';
import type { RolloutInput } from '../shared/rollout/state.js';
import { aBatchedSample, anEvent } from '../test/support/envelopes.js';
import { MemoryAgentRegistry } from './adapters/memory-agent-registry.js';
import { MemoryHealthSampleStore } from './adapters/memory-health-samples.js';
import type { BudgetSample } from '../shared/release/error-budget.js';
import { createEventIngest, releaseMemberOf } from './event-ingest.js';
import type { RolloutService } from './rollout-service.js';

const NOW = Date.parse('2025-06-02T09:30:05.000Z');

/** An ingest over a memory store that counts its writes and a service that records its inputs. */
function ingestWith(
  refuse: (rolloutId: string) => Error | undefined = () => undefined,
  services: readonly string[] = [],
) {
  const store = new MemoryHealthSampleStore({ now: () => NOW });
  const writes = { record: 0, recordAll: 0 };
  const samples = {
    record: (...args: Parameters<MemoryHealthSampleStore['record']>) => {
      writes.record++;
      return store.record(...args);
    },
    recordAll: (...args: Parameters<MemoryHealthSampleStore['recordAll']>) => {
      writes.recordAll++;
      return store.recordAll(...args);
    },
    latest: store.latest.bind(store),
  };
  const applied: { rolloutId: string; input: RolloutInput }[] = [];
  const spent: { releaseId: string; samples: BudgetSample[] }[] = [];
  const service = {
    apply: async (rolloutId: string, input: RolloutInput) => {
      const err = refuse(rolloutId);
      if (err) throw err;
      applied.push({ rolloutId, input });
    },
  } as unknown as RolloutService;
  const ingest = createEventIngest({
    service,
    samples,
    agents: new MemoryAgentRegistry(),
    clock: { now: () => NOW },
    logger: silentLogger,
    releaseBudget: {
      services: () => services,
      spend: async (releaseId, batch) => void spent.push({ releaseId, samples: batch }),
    },
  });
  return { ingest, store, writes, applied, spent };
}

const counts = { fromMs: NOW - 10_000, toMs: NOW - 5_000, requests: 1000, errors: 3 };

function aBatch(): HealthSamplesEvent {
  const batch = anEvent().onCluster('eu-west').healthSamples(['a', 'b', 'c']).build();
  if (batch.type !== 'health_samples') throw new Error('expected a batch');
  const withCounts = (rolloutId: string) => {
    const sample = aBatchedSample(rolloutId);
    if (sample.canary.status !== 'ok' || sample.stable.status !== 'ok') throw new Error('ok');
    return {
      ...sample,
      canary: { ...sample.canary, counts },
      stable: { ...sample.stable, counts: { ...counts, errors: 1 } },
    };
  };
  return {
    ...batch,
    payload: { samples: [withCounts('a'), aBatchedSample('b', 2), withCounts('c')] },
  };
}

describe('event ingest: health sample batches', () => {
  it('stores every sample of a batch in one write and hands each one’s counts to the judge', async () => {
    const { ingest, store, writes, applied } = ingestWith();
    await ingest(aBatch());

    expect(writes).toEqual({ record: 0, recordAll: 1 });
    expect((await store.latest('a', 0)).map((s) => s.cluster)).toEqual(['eu-west']);
    expect(await store.latest('b', 2)).toMatchObject([
      { cluster: 'eu-west', receivedAt: NOW, windowEnd: Date.parse('2025-06-02T09:30:00.000Z') },
    ]);
    expect(applied.map((a) => [a.rolloutId, a.input.type]).sort()).toEqual([
      ['a', 'health_counts'],
      ['c', 'health_counts'],
    ]);
  });

  it('a sample dated after its arrival (an agent clock ahead) counts as taken on arrival', async () => {
    const { ingest, store } = ingestWith();
    const batch = aBatch();
    batch.payload.samples[0] = { ...batch.payload.samples[0]!, at: '2025-06-02T10:00:00.000Z' };
    await ingest(batch);
    expect((await store.latest('a', 0))[0]?.windowEnd).toBe(NOW);
  });

  it('a rollout that refuses its counts (unknown, finished) costs nothing to the others', async () => {
    const { ingest, applied, store } = ingestWith((id) =>
      id === 'a' ? new RolloutError('unknown_rollout', 'no rollout a') : undefined,
    );
    await ingest(aBatch());
    expect(applied.map((a) => a.rolloutId)).toEqual(['c']);
    expect(await store.latest('c', 0)).toHaveLength(1);
  });

  it('rejects the batch (for the bus to retry) when a rollout could not take its counts for now, after the others were applied', async () => {
    const { ingest, applied } = ingestWith((id) =>
      id === 'a' ? new RolloutError('version_conflict', 'raced another replica') : undefined,
    );
    await expect(ingest(aBatch())).rejects.toMatchObject({ code: 'version_conflict' });
    expect(applied.map((a) => a.rolloutId)).toEqual(['c']);
  });
});

describe('event ingest: release members feed their release failure budget', () => {
  /** A batch of these rollouts' samples, each with interval counts. */
  function batchOf(rolloutIds: string[]): HealthSamplesEvent {
    const batch = aBatch();
    const [sample] = batch.payload.samples;
    return {
      ...batch,
      payload: { samples: rolloutIds.map((rolloutId) => ({ ...sample!, rolloutId })) },
    };
  }

  it('hands each release its members samples in one call per batch, and nothing for other rollouts', async () => {
    const { ingest, spent, applied } = ingestWith(undefined, ['payments', 'checkout', 'search']);
    await ingest(
      batchOf(['rel-1-payments', 'rel-1-checkout', 'rel-2-search', 'payments-3f9a1c', 'other']),
    );
    expect(spent.map((s) => [s.releaseId, s.samples.map((b) => b.service)])).toEqual([
      ['rel-1', ['payments', 'checkout']],
      ['rel-2', ['search']],
    ]);
    expect(spent[0]!.samples[0]).toEqual({
      service: 'payments',
      cluster: 'eu-west',
      fromMs: counts.fromMs,
      toMs: counts.toMs,
      canary: { requests: 1000, errors: 3 },
      stable: { requests: 1000, errors: 1 },
    });
    // The judge still gets every sample.
    expect(applied).toHaveLength(5);
  });

  it('a single health_sample of a member feeds it too', async () => {
    const { ingest, spent } = ingestWith(undefined, ['payments']);
    const batch = batchOf(['rel-9-payments']);
    const { rolloutId, at, ...payload } = batch.payload.samples[0]!;
    await ingest({ ...batch, type: 'health_sample', rolloutId, at, payload });
    expect(spent.map((s) => s.releaseId)).toEqual(['rel-9']);
  });

  it('reads the release off the member rollout id, the longest service name first', () => {
    const services = ['payments', 'new-payments'];
    expect(releaseMemberOf('rel-1-new-payments', services)).toEqual({
      releaseId: 'rel-1',
      service: 'new-payments',
    });
    expect(releaseMemberOf('rel-1-payments', services)).toEqual({
      releaseId: 'rel-1',
      service: 'payments',
    });
    expect(releaseMemberOf('payments', services)).toBeUndefined();
    expect(releaseMemberOf('-payments', services)).toBeUndefined();
    expect(releaseMemberOf('payments-3f9a1c', services)).toBeUndefined();
  });
});
