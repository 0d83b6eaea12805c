import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryTopicBroker } from '../shared/adapters/memory-topic-broker.js';
import { parsePolicy } from '../shared/config/policy-loader.js';
import { createLogger } from '../shared/log.js';
import { TopicCommandBus } from '../shared/messaging/topic-command-bus.js';
import { TopicEventBus } from '../shared/messaging/topic-event-bus.js';
import type { Effect } from '../shared/rollout/state.js';
import { e2ePolicyYaml } from '../test/support/e2e-policy.js';
import { startRedis, type RedisServer } from '../test/support/redis-server.js';
import { aCommit, aRolloutState } from '../test/support/state-builders.js';
import { BullGateScheduler, gateJobId } from './adapters/bull-gate-scheduler.js';
import { MemoryAgentRegistry } from './adapters/memory-agent-registry.js';
import { MemoryHealthSampleStore } from './adapters/memory-health-samples.js';
import { MemoryOnceClaims } from './adapters/memory-once-claims.js';
import { MemoryRolloutStore } from './adapters/memory-rollout-store.js';
import { MemoryServiceLocks } from './adapters/memory-service-locks.js';
import { RecordingNotifier } from './adapters/recording-notifier.js';
import { BotRuntime } from './bot-runtime.js';

describe('BotRuntime.stop', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('carries out pending schedule effects before closing the scheduler: no "Connection is closed"', async () => {
    const lines: string[] = [];
    const logger = createLogger('bot', 'debug', { write: (line: string) => void lines.push(line) });
    const store = new MemoryRolloutStore();
    const broker = new MemoryTopicBroker();
    const queueName = 'shutdown';
    const runtime = new BotRuntime({
      adapters: {
        store,
        locks: new MemoryServiceLocks(),
        samples: new MemoryHealthSampleStore(),
        agents: new MemoryAgentRegistry(),
        claims: new MemoryOnceClaims({ now: () => Date.now() }),
        scheduler: new BullGateScheduler({ url: server.url, queueName, logger }),
        commands: new TopicCommandBus(broker),
        events: new TopicEventBus(broker),
        notifier: new RecordingNotifier(),
      },
      policy: () => parsePolicy(e2ePolicyYaml(), 'e2e-policy.yaml'),
      clock: { now: () => Date.now() },
      logger,
      sweepTimer: false,
    });
    await runtime.start();

    // Stored after start's drain and with nothing to drain them: pending when stop begins.
    const state = aRolloutState().withStatus('baking').build();
    const schedules: Effect[] = [1, 2, 3].map((tick) => ({
      type: 'schedule_gate',
      stageIndex: 0,
      tick,
      delayMs: 60_000,
    }));
    await store.create(aCommit(state, schedules));
    expect(await store.pendingEffects()).toHaveLength(3);

    await runtime.stop();
    await broker.close();

    expect(lines.filter((l) => /Connection is closed/i.test(l))).toEqual([]);
    expect(lines.filter((l) => /effect failed/.test(l))).toEqual([]);
    expect(await store.pendingEffects()).toEqual([]);
    const redis = new Redis(server.url);
    try {
      for (const tick of [1, 2, 3]) {
        const id = gateJobId({ rolloutId: state.id, stageIndex: 0, tick });
        expect(await redis.exists(`bull:${queueName}:${id}`)).toBe(1);
      }
    } finally {
      await redis.quit();
    }
  });
});
