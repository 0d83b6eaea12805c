import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryHealthSampleStore } from '../../bot/adapters/memory-health-samples.js';
import { RedisHealthSampleStore } from '../../bot/adapters/redis-health-samples.js';
import type { HealthSampleStore, StoredSample } from '../../shared/ports/health-samples.js';
import { privateRedis } from '../support/redis-adapters.js';

const redis = privateRedis();
beforeAll(() => redis.start());
afterAll(() => redis.stop());

function aSample(
  cluster: string,
  stageIndex: number,
  receivedAt: number,
  errors = 1,
): StoredSample {
  const ok = {
    status: 'ok' as const,
    requests: 1000,
    errors,
    latencyMs: { p50: 20, p95: 80, p99: 120 },
  };
  return {
    cluster,
    receivedAt,
    sample: { stageIndex, windowMs: 10_000, canary: ok, stable: { ...ok, errors: 0 } },
  };
}

describe.each([
  ['memory', (): HealthSampleStore => new MemoryHealthSampleStore()],
  ['redis', (): HealthSampleStore => new RedisHealthSampleStore(redis.client(), redis.prefix())],
])('HealthSampleStore contract: %s', (_name, create) => {
  it('returns the latest sample of each cluster for a stage', async () => {
    const store = create();
    await store.record('r1', aSample('eu-west', 0, 1000, 1));
    await store.record('r1', aSample('eu-west', 0, 2000, 2));
    await store.record('r1', aSample('us-east', 0, 1500, 3));
    await store.record('r1', aSample('us-east', 1, 1600, 4));
    const latest = await store.latest('r1', 0);
    expect(
      latest
        .map((s) => [s.cluster, s.receivedAt, (s.sample.canary as { errors: number }).errors])
        .sort(),
    ).toEqual([
      ['eu-west', 2000, 2],
      ['us-east', 1500, 3],
    ]);
  });

  it('keeps the newer sample when an older one arrives late', async () => {
    const store = create();
    await store.record('r1', aSample('eu-west', 0, 2000, 2));
    await store.record('r1', aSample('eu-west', 0, 1000, 9));
    expect((await store.latest('r1', 0))[0]?.receivedAt).toBe(2000);
  });

  it('orders by when the window ended, not by arrival: a redelivered older sample never replaces a newer one', async () => {
    const store = create();
    const newer = { ...aSample('eu-west', 0, 5_000, 2), windowEnd: 4_900 };
    const redelivered = { ...aSample('eu-west', 0, 9_000, 9), windowEnd: 1_000 };
    await store.record('r1', newer);
    await store.record('r1', redelivered);
    expect(await store.latest('r1', 0)).toEqual([newer]);
    // A sample stored before window ends were kept is compared by its arrival.
    await store.record('r2', aSample('eu-west', 0, 3_000, 1));
    await store.record('r2', { ...aSample('eu-west', 0, 9_000, 7), windowEnd: 2_000 });
    expect((await store.latest('r2', 0))[0]?.receivedAt).toBe(3_000);
  });

  it('records a batch with the same rule per sample: newest per (rollout, stage, cluster) wins, even within the batch', async () => {
    const store = create();
    await store.record('r1', { ...aSample('eu-west', 0, 9_000, 5), windowEnd: 8_000 });
    await store.recordAll([
      // Older than what is stored: ignored.
      { rolloutId: 'r1', stored: { ...aSample('eu-west', 0, 9_500, 9), windowEnd: 7_000 } },
      { rolloutId: 'r2', stored: { ...aSample('eu-west', 0, 9_500, 1), windowEnd: 9_000 } },
      { rolloutId: 'r2', stored: { ...aSample('eu-west', 1, 9_500, 2), windowEnd: 9_000 } },
      // Two samples for one key in a batch: the later window wins whatever the order.
      { rolloutId: 'r3', stored: { ...aSample('us-east', 0, 9_500, 4), windowEnd: 9_200 } },
      { rolloutId: 'r3', stored: { ...aSample('us-east', 0, 9_500, 3), windowEnd: 9_100 } },
    ]);
    const errorsOf = async (rolloutId: string, stage: number) =>
      (await store.latest(rolloutId, stage)).map(
        (s) => (s.sample.canary as { errors: number }).errors,
      );
    expect(await errorsOf('r1', 0)).toEqual([5]);
    expect(await errorsOf('r2', 0)).toEqual([1]);
    expect(await errorsOf('r2', 1)).toEqual([2]);
    expect(await errorsOf('r3', 0)).toEqual([4]);
    await store.recordAll([]);
    expect(await errorsOf('r1', 0)).toEqual([5]);
  });

  it('keeps rollouts apart and returns nothing for a stage without samples', async () => {
    const store = create();
    await store.record('r1', aSample('eu-west', 0, 1000));
    expect(await store.latest('r2', 0)).toEqual([]);
    expect(await store.latest('r1', 3)).toEqual([]);
  });
});

describe.each([
  [
    'memory',
    (retentionMs: number): HealthSampleStore => new MemoryHealthSampleStore({ retentionMs }),
  ],
  [
    'redis',
    (retentionMs: number): HealthSampleStore =>
      new RedisHealthSampleStore(redis.client(), redis.prefix(), retentionMs),
  ],
])('HealthSampleStore retention: %s', (_name, create) => {
  it("drops a stage's samples once the retention has passed since the last one", async () => {
    const store = create(200);
    await store.record('r1', aSample('eu-west', 0, 1000));
    await store.record('r1', aSample('eu-west', 1, 1000));
    await new Promise((resolve) => setTimeout(resolve, 120));
    await store.record('r1', aSample('us-east', 1, 1100)); // stage 1 lives on
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(await store.latest('r1', 0)).toEqual([]);
    expect((await store.latest('r1', 1)).map((s) => s.cluster).sort()).toEqual([
      'eu-west',
      'us-east',
    ]);
  });
});
