import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BullGateScheduler } from '../../bot/adapters/bull-gate-scheduler.js';
import { RecordingNotifier } from '../../bot/adapters/recording-notifier.js';
import { RedisHealthSampleStore } from '../../bot/adapters/redis-health-samples.js';
import { RedisOnceClaims } from '../../bot/adapters/redis-once-claims.js';
import { RedisRolloutStore } from '../../bot/adapters/redis-rollout-store.js';
import { RedisServiceLocks } from '../../bot/adapters/redis-service-locks.js';
import { EffectRunner } from '../../bot/effect-runner.js';
import { RolloutService } from '../../bot/rollout-service.js';
import { MemoryTopicBroker } from '../../shared/adapters/memory-topic-broker.js';
import { parsePolicy } from '../../shared/config/policy-loader.js';
import type { Policy } from '../../shared/config/policy.js';
import { silentLogger } from '../../shared/log.js';
import { TopicCommandBus } from '../../shared/messaging/topic-command-bus.js';
import { isTerminal, type RolloutInput } from '../../shared/rollout/state.js';
import { e2ePolicyYaml, STARTER } from '../support/e2e-policy.js';
import { aVerdict, measured } from '../support/plan-builders.js';
import { privateRedis } from '../support/redis-adapters.js';

/**
 * What one finished rollout leaves in Redis: the e2e policy's checkout on 10 clusters (stages 5,
 * 25, 50, 100, gate every 100 ms, bake 300 ms) driven to success through the rollout service and
 * the effect runner on the Redis adapters and BullMQ, with a health sample per cluster per gate
 * tick. Retentions are shortened (samples and gate claims 1 s, finished rollouts 10 s: long
 * enough that the first rollout is still kept when the last has been folded, even on a busy machine) so each can
 * be waited for, and the sweep's folding of finished rollouts is called directly; the effect runner's claims last their real 15 s, so they are counted by expiry
 * rather than waited out.
 */
const ROLLOUTS = 5;
const CLUSTERS = ['eu-west', 'us-east', ...Array.from({ length: 8 }, (_, i) => `c${i + 2}`)];
const RETENTION = { finishedRollouts: 10_000, samples: 1_000 };
const GATE_CLAIMS_MS = 1_000;
/** The issue's target: a finished rollout's summary and audit trail, once its working state went. */
const MAX_BYTES_PER_FINISHED_ROLLOUT = 2_048;

/** The e2e policy with checkout on the ten clusters of `CLUSTERS`. */
function tenClusterPolicyYaml(): string {
  const added = CLUSTERS.slice(2);
  return e2ePolicyYaml()
    .replace('  us-east: {}\n', `  us-east: {}\n${added.map((c) => `  ${c}: {}\n`).join('')}`)
    .replace(/(checkout:[^]*?clusters: \[eu-west, us-east)\]/, `$1, ${added.join(', ')}]`);
}

describe('Redis keys per finished rollout', () => {
  const server = privateRedis();
  let redis: Redis;
  beforeAll(async () => {
    await server.start();
    redis = server.client();
  });
  afterAll(() => server.stop());

  it('leaves one summary under 2 KB once working state expired, and nothing after retention', async () => {
    let now = Date.now();
    const clock = { now: () => now };
    const base = parsePolicy(tenClusterPolicyYaml(), 'e2e-policy.yaml');
    expect(base.services['checkout']?.clusters).toEqual(CLUSTERS);
    const policy: Policy = { ...base, retention: RETENTION };
    const store = new RedisRolloutStore(redis);
    const locks = new RedisServiceLocks(redis, undefined, clock);
    const samples = new RedisHealthSampleStore(redis, undefined, RETENTION.samples);
    const scheduler = new BullGateScheduler({
      url: `redis://127.0.0.1:${redis.options.port}`,
      retentionMs: GATE_CLAIMS_MS,
    });
    await scheduler.start(async () => {}); // the gate ticks are driven below; jobs just complete
    const broker = new MemoryTopicBroker();
    const effects = new EffectRunner({
      store,
      commands: new TopicCommandBus(broker),
      scheduler,
      notifier: new RecordingNotifier(),
      locks,
      claims: new RedisOnceClaims(redis),
      clock,
      logger: silentLogger,
    });
    const service = new RolloutService({
      store,
      locks,
      policy: () => policy,
      clock,
      logger: silentLogger,
      onCommitted: () => {},
    });

    const apply = async (id: string, input: RolloutInput) => {
      await service.apply(id, input, 'test');
      await effects.drain();
    };
    let gateTicks = 0;
    try {
      for (let n = 0; n < ROLLOUTS; n++) {
        const started = await service.start({
          service: 'checkout',
          version: `2.5.${n}`,
          startedBy: STARTER,
        });
        await effects.drain();
        for (let guard = 0; guard < 200; guard++) {
          const state = (await store.get(started.id))!;
          if (isTerminal(state.status)) break;
          const { stageIndex } = state;
          if (state.status === 'progressing') {
            for (const cluster of state.plan.clusters) {
              const weight = state.plan.stages[stageIndex]!.weight;
              await apply(state.id, { type: 'stage_applied', cluster, stageIndex, weight });
            }
          } else if (state.status === 'baking') {
            now += 100;
            for (const cluster of state.plan.clusters) {
              await samples.record(state.id, {
                cluster,
                receivedAt: now,
                windowEnd: now,
                sample: { stageIndex, windowMs: 100, canary: measured(), stable: measured() },
              });
            }
            gateTicks++;
            await apply(state.id, {
              type: 'gate_result',
              stageIndex,
              tick: state.gate.tick,
              verdict: aVerdict('pass'),
            });
          } else if (state.status === 'promoting') {
            for (const cluster of state.plan.clusters)
              await apply(state.id, { type: 'promoted', cluster });
          } else {
            throw new Error(`unexpected status ${state.status}`);
          }
        }
        expect((await store.get(started.id))?.status).toBe('succeeded');
        now += 60_000;
      }
      // Every gate job due and run.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const finished = await finishedIds(redis);
      expect(finished).toHaveLength(ROLLOUTS);
      const atEnd = await census(redis);

      // Samples and gate claims expired; the finished rollouts' records not yet. The bot's sweep
      // folds each into its summary (compactAfterMs = retention.samples).
      await new Promise((resolve) => setTimeout(resolve, GATE_CLAIMS_MS + 500));
      const history = await store.history(finished[0]!);
      const state = await store.get(finished[0]!);
      expect(await service.compactFinished()).toBe(ROLLOUTS);
      expect(await store.get(finished[0]!)).toEqual(state);
      expect(await store.history(finished[0]!)).toEqual(history);
      expect((await store.list({ service: 'checkout' })).map((s) => s.id).sort()).toEqual(
        [...finished].sort(),
      );
      const kept = await census(redis);
      const perRollout = await Promise.all(finished.map((id) => keysOf(redis, id)));

      // Their retention passes (counted from each one's end): nothing of them is left.
      await expect
        .poll(async () => (await redis.keys('rollout:summary:*')).length, {
          timeout: RETENTION.finishedRollouts + 10_000,
          interval: 250,
        })
        .toBe(0);
      // One more write prunes the indexes of rollouts whose retention passed.
      const last = await service.start({
        service: 'payments',
        version: '9.9.9',
        startedBy: STARTER,
      });
      await effects.drain();
      const after = await census(redis, [last.id]);

      const per = (keys: number) => (keys / ROLLOUTS).toFixed(1);
      console.log(
        [
          `${ROLLOUTS} rollouts × ${CLUSTERS.length} clusters, ${gateTicks} gate ticks in all`,
          `at the end: ${atEnd.total} keys (${per(atEnd.total)} per rollout), ${atEnd.forever} without expiry`,
          `  by kind: ${JSON.stringify(atEnd.kinds)}`,
          `once samples and gate claims expired: ${kept.total} keys`,
          `  by kind: ${JSON.stringify(kept.kinds)}`,
          `  per finished rollout: ${JSON.stringify(perRollout[0])}`,
          `after retention: ${after.total} keys (${per(after.total)} per rollout), ${after.forever} without expiry`,
          `  by kind: ${JSON.stringify(after.kinds)}`,
          `  still to expire: ${JSON.stringify(after.expiring)}`,
        ].join('\n'),
      );

      // Once its working state expired, a finished rollout is one summary of its state and audit
      // trail, under 2 KB at 10 clusters; only the effect runner's 15 s claims are still expiring.
      for (const keys of perRollout) {
        expect(keys.byKind).toEqual({ 'rollout:summary': 1 });
        expect(keys.bytes).toBeLessThan(MAX_BYTES_PER_FINISHED_ROLLOUT);
      }
      expect(kept.kinds['rollout:samples']).toBeUndefined();
      expect(kept.kinds['bull:gate-ticks']).toBeUndefined();
      expect(kept.kinds['bull:job']).toBeUndefined(); // completed jobs are removed at once
      expect(kept.expiring['rollout:claim:effect'] ?? 0).toBeLessThanOrEqual(15);

      // After retention nothing of the finished rollouts is left but the effect claims expiring
      // on their own and keys shared by every rollout (queue meta, outbox, indexes, per service
      // its fencing number and stable versions): none per rollout.
      for (const id of finished) expect(await keysOf(redis, id)).toEqual({ bytes: 0, byKind: {} });
      expect(after.kinds['rollout:state']).toBeUndefined();
      expect(after.kinds['rollout:history']).toBeUndefined();
      expect(after.kinds['rollout:summary']).toBeUndefined();
      expect(after.kinds['bull:job']).toBeUndefined();
      expect(after.forever).toBeLessThan(20);
      expect(Object.keys(after.expiring).sort()).toEqual([
        'bull:queue:stalled-check',
        'rollout:claim:effect',
      ]);
      expect(after.expiring['rollout:claim:effect']).toBeLessThanOrEqual(15);
      const stable = Object.fromEntries(CLUSTERS.map((c) => [c, `2.5.${ROLLOUTS - 1}`]));
      expect(await store.stableVersions('checkout')).toEqual(stable);
      const indexed = await redis.zrange('rollout:idx:all', '0', '-1');
      expect(indexed).toEqual([last.id]);
    } finally {
      await scheduler.close();
      await broker.close();
    }
  }, 60_000);
});

/** The finished rollouts, from the status index. */
async function finishedIds(redis: Redis): Promise<string[]> {
  return await redis.zrange('rollout:idx:status:succeeded', '0', '-1');
}

/** The keys that name rollout `id`, by kind, and their `MEMORY USAGE` in all. */
async function keysOf(
  redis: Redis,
  id: string,
): Promise<{ bytes: number; byKind: Record<string, number> }> {
  const keys = (await redis.keys('*')).filter(
    (k) => k.includes(id) && kindOf(k) !== 'rollout:claim:effect',
  );
  const result = { bytes: 0, byKind: {} as Record<string, number> };
  for (const key of keys) {
    result.bytes += Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
    result.byKind[kindOf(key)] = (result.byKind[kindOf(key)] ?? 0) + 1;
  }
  return result;
}

interface Census {
  total: number;
  /** Keys with no expiry: what stays for good. */
  forever: number;
  /** Keys by kind (the key up to its first id-like part). */
  kinds: Record<string, number>;
  /** Keys that will expire, by kind: the longest time left in seconds. */
  expiring: Record<string, number>;
}

/** Every key of the private Redis, by kind, leaving out those of the rollouts in `skip`. */
async function census(redis: Redis, skip: string[] = []): Promise<Census> {
  const keys = (await redis.keys('*')).filter((k) => !skip.some((id) => k.includes(id)));
  const result: Census = { total: keys.length, forever: 0, kinds: {}, expiring: {} };
  for (const key of keys) {
    const kind = kindOf(key);
    result.kinds[kind] = (result.kinds[kind] ?? 0) + 1;
    const ttl = await redis.pttl(key);
    if (ttl === -1) result.forever++;
    else result.expiring[kind] = Math.max(result.expiring[kind] ?? 0, Math.ceil(ttl / 1000));
  }
  return result;
}

function kindOf(key: string): string {
  const parts = key.split(':');
  if (parts[0] === 'bull') {
    // bull:<queue>:<job id or list>; a rollout's gate tick claims: bull:gate-ticks:…
    if (parts[1] === 'gate-ticks') return `bull:${parts[1]}`;
    return parts[2]?.startsWith('gate-') ? 'bull:job' : `bull:queue:${parts[2] ?? ''}`;
  }
  if (parts[1] === 'claim') return `rollout:claim:${parts[2]}`;
  if (parts[1] === 'idx') return `rollout:idx:${parts[2]}`;
  return `${parts[0]}:${parts[1]}`;
}
