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
 * What one finished rollout leaves in Redis: the e2e policy's checkout (2 clusters, stages 5, 25,
 * 50, 100, gate every 100 ms, bake 300 ms) driven to success through the rollout service and the
 * effect runner on the Redis adapters and BullMQ, with a health sample per cluster per gate tick.
 * Retentions are shortened (rollouts 1.5 s, samples 1 s, gate claims 1 s after due) so "after
 * retention" can be waited for; the effect runner's claims last their real 15 s, so they are
 * counted by expiry rather than waited out.
 */
const ROLLOUTS = 5;
const RETENTION = { finishedRollouts: 1_500, samples: 1_000 };

describe('Redis keys per finished rollout', () => {
  const server = privateRedis();
  let redis: Redis;
  beforeAll(async () => {
    await server.start();
    redis = server.client();
  });
  afterAll(() => server.stop());

  it('leaves only keys that expire, and after the retention nearly nothing', async () => {
    let now = Date.now();
    const clock = { now: () => now };
    const base = parsePolicy(e2ePolicyYaml(), 'e2e-policy.yaml');
    const policy: Policy = { ...base, retention: RETENTION };
    const store = new RedisRolloutStore(redis);
    const locks = new RedisServiceLocks(redis, undefined, clock);
    const samples = new RedisHealthSampleStore(redis, undefined, RETENTION.samples);
    const scheduler = new BullGateScheduler({
      url: `redis://127.0.0.1:${redis.options.port}`,
      retentionMs: 1_000,
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

      const atEnd = await census(redis);
      await new Promise((resolve) => setTimeout(resolve, RETENTION.finishedRollouts + 200));
      // One more write prunes the indexes of rollouts whose retention passed.
      const last = await service.start({
        service: 'payments',
        version: '9.9.9',
        startedBy: STARTER,
      });
      await effects.drain();
      const after = await census(redis, [last.id]);

      const perRollout = (keys: number) => (keys / ROLLOUTS).toFixed(1);
      console.log(
        [
          `${ROLLOUTS} rollouts, ${gateTicks} gate ticks in all`,
          `at the end: ${atEnd.total} keys (${perRollout(atEnd.total)} per rollout), ${atEnd.forever} without expiry`,
          `  by kind: ${JSON.stringify(atEnd.kinds)}`,
          `after retention: ${after.total} keys (${perRollout(after.total)} per rollout), ${after.forever} without expiry`,
          `  by kind: ${JSON.stringify(after.kinds)}`,
          `  still to expire: ${JSON.stringify(after.expiring)}`,
        ].join('\n'),
      );

      // After retention nothing of the finished rollouts is left but what expires on its own
      // (effect claims, 15 s) and a few keys shared by every rollout.
      expect(after.kinds['rollout:state']).toBeUndefined();
      expect(after.kinds['rollout:history']).toBeUndefined();
      expect(after.kinds['rollout:samples']).toBeUndefined();
      // Kept for good: finished gate jobs (the newest 100 of the queue, whatever the number of
      // rollouts) and keys shared by all rollouts (queue meta, outbox, indexes, per-service fence
      // and stable versions): none per rollout.
      expect(after.kinds['bull:job'] ?? 0).toBeLessThanOrEqual(100);
      expect(after.forever - (after.kinds['bull:job'] ?? 0)).toBeLessThan(20);
      expect(Object.keys(after.expiring).sort()).toEqual([
        'bull:queue:stalled-check',
        'rollout:claim:effect',
      ]);
      expect(after.expiring['rollout:claim:effect']).toBeLessThanOrEqual(15);
      expect(await store.stableVersions('checkout')).toEqual({
        'eu-west': `2.5.${ROLLOUTS - 1}`,
        'us-east': `2.5.${ROLLOUTS - 1}`,
      });
      const indexed = await redis.zcard('rollout:idx:all');
      expect(indexed).toBe(1); // the payments rollout only
    } finally {
      await scheduler.close();
      await broker.close();
    }
  }, 60_000);
});

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
    // bull:<queue>:<job id or list>; gate claims and tracking sets: bull:gate-claims:…
    if (parts[1] === 'gate-claims' || parts[1] === 'gate-rollouts') return `bull:${parts[1]}`;
    return parts[2]?.startsWith('gate-') ? 'bull:job' : `bull:queue:${parts[2] ?? ''}`;
  }
  if (parts[1] === 'claim') return `rollout:claim:${parts[2]}`;
  if (parts[1] === 'idx') return `rollout:idx:${parts[2]}`;
  return `${parts[0]}:${parts[1]}`;
}
