import { describe, expect, it } from 'vitest';
import type { HealthSamplesEvent } from '../shared/contracts/events.js';
import { RolloutError } from '../shared/errors.js';
import { silentLogger } from '../shared/log.js';
import type { RolloutInput } from '../shared/rollout/state.js';
import { aBatchedSample, anEvent } from '../test/support/envelopes.js';
import { MemoryAgentRegistry } from './adapters/memory-agent-registry.js';
import { MemoryHealthSampleStore } from './adapters/memory-health-samples.js';
import { createEventIngest } from './event-ingest.js';
import type { RolloutService } from './rollout-service.js';

const NOW = Date.parse('2025-06-02T09:30:05.000Z');

/** An ingest over a memory store that counts its writes and a service that records its inputs. */
function ingestWith(refuse: (rolloutId: string) => Error | undefined = () => undefined) {
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
  });
  return { ingest, store, writes, applied };
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
