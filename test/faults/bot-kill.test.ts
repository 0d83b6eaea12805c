/**
 * The bot process killed with SIGKILL between scheduling a gate evaluation and its run, then
 * started again on the same Kafka and Redis (distributed mode, `bot/main.ts` and two agent
 * processes). The gate job is a delayed BullMQ job in Redis; the new bot's worker runs it.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { gateJobId } from '../../bot/adapters/bull-gate-scheduler.js';
import { RedisRolloutStore } from '../../bot/adapters/redis-rollout-store.js';
import { RedisServiceLocks } from '../../bot/adapters/redis-service-locks.js';
import { RolloutService } from '../../bot/rollout-service.js';
import { systemClock } from '../../shared/clock.js';
import type { HistoryEntry } from '../../shared/ports/rollout-store.js';
import { STARTER } from '../support/e2e-policy.js';
import {
  FINISHED,
  startStack,
  waitForRollout,
  type DistributedStack,
} from '../support/distributed-stack.js';
import { testLogger } from '../support/topic-brokers.js';
import { waitFor } from '../support/wait-for.js';

/**
 * One service, two stages, and a gate interval long enough (2 s) that the kill lands between
 * the job being scheduled and its run; the bake equals the interval, so one passing evaluation
 * ends a stage.
 */
const POLICY = `
clusters:
  eu-west: {}
  us-east: {}
defaults:
  stages: [50, 100]
  bake: 2s
  gate:
    interval: 2s
    minRequests: 20
    failureLimit: 2
    checks:
      - { metric: error_rate, mode: absolute, max: 0.05 }
services:
  ledger:
    channel: C0LEDGER
    clusters: [eu-west, us-east]
    stableVersion: 3.0.0
simulation:
  seed: 7
  traffic:
    requestsPerSecond: 20000
`;

let stack: DistributedStack | undefined;
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
  await stack?.stop();
  stack = undefined;
});

/** The gate results of stage `index` (0-based) in the audit trail: after its last stage_applied. */
function gateResultsOfStage(trail: HistoryEntry[], index: number): HistoryEntry[] {
  const applied = (i: number) => (h: HistoryEntry) =>
    h.input === 'stage_applied' && (h.detail ?? '').endsWith(`(stage ${i + 1})`);
  const start = trail.findLastIndex(applied(index));
  const next = trail.findIndex(applied(index + 1));
  return trail
    .slice(start + 1, next === -1 ? undefined : next)
    .filter((h) => h.input === 'gate_result');
}

describe('the bot process killed between scheduling a gate evaluation and its run', () => {
  it(
    'after a restart the evaluation runs once and the rollout carries on to success',
    { timeout: 90_000 },
    async () => {
      stack = await startStack({ policyYaml: POLICY });
      const redis = new Redis(stack.redis.url);
      closers.push(() => redis.quit());
      const queue = new Queue('gate-evaluations', { connection: redis, prefix: 'bull' });
      closers.push(() => queue.close());
      // The test starts the rollout through the same store the bot uses (a rollout request
      // arriving at another replica); the bot process carries out its effects from the outbox.
      const store = new RedisRolloutStore(redis);
      const rollouts = new RolloutService({
        store,
        locks: new RedisServiceLocks(redis),
        policy: () => stack!.policy,
        clock: systemClock,
        logger: testLogger,
        onCommitted: () => {},
      });
      await Promise.all([stack.startAgent('eu-west'), stack.startAgent('us-east')]);
      const rollout = await rollouts.start({
        service: 'ledger',
        version: '3.1.0',
        startedBy: STARTER,
      });
      const firstBot = await stack.startBotProcess();

      // Stage 1 bakes and its first evaluation waits in BullMQ: kill the bot now.
      const jobId = gateJobId({ rolloutId: rollout.id, stageIndex: 0, tick: 1 });
      await waitFor(
        async () => {
          const state = await store.get(rollout.id);
          if (state?.status !== 'baking' || state.stageIndex !== 0) return false;
          return (await (await queue.getJob(jobId))?.getState()) === 'delayed';
        },
        { what: 'the first gate evaluation of stage 1 to be scheduled', intervalMs: 10 },
      );
      expect((await firstBot.kill('SIGKILL')).signal).toBe('SIGKILL');
      const job = await queue.getJob(jobId);
      expect(await job?.getState()).toMatch(/^(delayed|waiting)$/);
      expect(job?.attemptsStarted ?? 0).toBe(0);
      expect((await store.history(rollout.id)).filter((h) => h.input === 'gate_result')).toEqual(
        [],
      );

      const restartedAt = Date.now();
      const secondBot = await stack.startBotProcess();
      const finished = await waitForRollout(store, rollout.id, FINISHED);
      expect(finished.status).toBe('succeeded');

      // The evaluation ran once, in the new bot, and its result is in the audit trail.
      const ran = await queue.getJob(jobId);
      expect(await ran?.getState()).toBe('completed');
      expect(ran?.attemptsStarted).toBe(1);
      expect(ran?.processedOn).toBeGreaterThanOrEqual(restartedAt);
      const stage1 = gateResultsOfStage(await store.history(rollout.id), 0);
      expect(stage1.length).toBeGreaterThanOrEqual(1);
      expect(stage1.every((h) => h.at >= restartedAt)).toBe(true);
      expect(stage1.at(-1)?.detail).toMatch(/^pass/);

      // And the new bot stops gracefully on SIGTERM.
      expect(await secondBot.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    },
  );
});
