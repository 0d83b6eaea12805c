/**
 * The bot process killed with SIGKILL around a gate evaluation, then started again on the same
 * Kafka and Redis (distributed mode, `bot/main.ts` and two agent processes): while the gate job
 * is a delayed BullMQ job in Redis (the new bot's worker runs it), and while the job runs (it
 * stalls: the new bot's worker finds its lock expired and runs it again).
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { join } from 'node:path';
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
import { GATE_JOB_PROBE, probeLines } from '../support/gate-job-probe.js';
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

/**
 * The stack with both agents, the gate queue as the test reads it, and `startRollout`: a rollout
 * of ledger started through the same store the bot uses (a rollout request arriving at another
 * replica), whose effects the bot process carries out from the outbox. Tests start it once the
 * bot is ready (its consumer groups joined), so its first gate tick is judged on samples and is
 * still waiting in BullMQ when the test looks: a bot slow to start must not make it run early.
 */
async function stackWithRollout() {
  stack = await startStack({ policyYaml: POLICY });
  const redis = new Redis(stack.redis.url);
  closers.push(() => redis.quit());
  const queue = new Queue('gate-evaluations', { connection: redis, prefix: 'bull' });
  closers.push(() => queue.close());
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
  const startRollout = () =>
    rollouts.start({ service: 'ledger', version: '3.1.0', startedBy: STARTER });
  return { stack, queue, store, startRollout };
}

describe('the bot process killed between scheduling a gate evaluation and its run', () => {
  it(
    'after a restart the evaluation runs once and the rollout carries on to success',
    { timeout: 90_000 },
    async () => {
      const { stack, queue, store, startRollout } = await stackWithRollout();
      // The probe records each gate job run with the process that ran it: BullMQ removes a
      // completed job at once, so its record cannot say so afterwards.
      const probe = join(stack.dir, 'gate-jobs.jsonl');
      const env = { GATE_JOB_PROBE_FILE: probe };
      const firstBot = await stack.startBotProcess({ env, preload: [GATE_JOB_PROBE] });
      const rollout = await startRollout();

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
      const secondBot = await stack.startBotProcess({ env, preload: [GATE_JOB_PROBE] });
      const finished = await waitForRollout(store, rollout.id, FINISHED);
      expect(finished.status).toBe('succeeded');

      // The evaluation ran once, in the new bot (and was removed once completed), and its result
      // is in the audit trail.
      const runs = probeLines(probe).filter((l) => gateJobId(l.job) === jobId);
      expect(runs.map((l) => [l.pid, l.step])).toEqual([
        [secondBot.pid, 'started'],
        [secondBot.pid, 'finished'],
      ]);
      expect(await queue.getJob(jobId)).toBeUndefined();
      const stage1 = gateResultsOfStage(await store.history(rollout.id), 0);
      expect(stage1.length).toBeGreaterThanOrEqual(1);
      expect(stage1.every((h) => h.at >= restartedAt)).toBe(true);
      expect(stage1.at(-1)?.detail).toMatch(/^pass/);

      // And the new bot stops gracefully on SIGTERM.
      expect(await secondBot.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    },
  );
});

describe('the bot process killed while a gate evaluation runs', () => {
  // BullMQ's defaults find a dead worker's job after 30 s; the bots here take a 2 s lock and look
  // for expired ones every 500 ms, so the stalled job runs again within seconds.
  const GATE_JOBS = { GATE_LOCK_DURATION: '2s', GATE_STALLED_INTERVAL: '500ms' };

  it.each([
    ['before', 'no verdict yet: the new bot evaluates the tick'],
    ['after', 'the verdict was applied (the job not completed): the re-run changes nothing'],
  ] as const)(
    'killed %s its handler ran: after a restart BullMQ runs the stalled job again, %s, and the rollout succeeds with no stage applied twice',
    { timeout: 90_000 },
    async (hold, _outcome) => {
      const { stack, queue, store, startRollout } = await stackWithRollout();
      const probe = join(stack.dir, 'gate-jobs.jsonl');
      const env = { ...GATE_JOBS, GATE_JOB_PROBE_FILE: probe };
      const firstBot = await stack.startBotProcess({
        env: { ...env, GATE_JOB_PROBE_HOLD: hold },
        preload: [GATE_JOB_PROBE],
      });
      const rollout = await startRollout();

      // The first gate evaluation of stage 1 is running in the first bot: kill the bot now.
      const first = { rolloutId: rollout.id, stageIndex: 0, tick: 1 };
      const jobId = gateJobId(first);
      await waitFor(
        () => probeLines(probe).some((l) => l.step === 'held' && gateJobId(l.job) === jobId),
        { what: 'the first gate evaluation of stage 1 to be running', intervalMs: 10 },
      );
      expect((await firstBot.kill('SIGKILL')).signal).toBe('SIGKILL');
      const killedAt = Date.now();
      const job = await queue.getJob(jobId);
      expect(await job?.getState()).toBe('active');
      expect(job?.attemptsStarted).toBe(1);
      const resultsBeforeRestart = gateResultsOfStage(await store.history(rollout.id), 0);
      expect(resultsBeforeRestart).toHaveLength(hold === 'before' ? 0 : 1);

      const secondBot = await stack.startBotProcess({ env, preload: [GATE_JOB_PROBE] });
      const finished = await waitForRollout(store, rollout.id, FINISHED);
      expect(finished.status).toBe('succeeded');

      // BullMQ found the job stalled and the new bot ran it to the end (then removed it). With the
      // verdict already applied the rollout does not wait for that re-run, so it may end first.
      await waitFor(async () => (await queue.getJob(jobId)) === undefined, {
        what: 'the stalled gate job to be run again and removed',
      });
      const runs = probeLines(probe).filter((l) => gateJobId(l.job) === jobId);
      expect(runs.map((l) => [l.pid, l.step])).toEqual([
        [firstBot.pid, 'started'],
        [firstBot.pid, 'held'],
        [secondBot.pid, 'started'],
        [secondBot.pid, 'finished'],
      ]);
      const stage1 = gateResultsOfStage(await store.history(rollout.id), 0);
      if (hold === 'before') {
        expect(stage1.length).toBeGreaterThanOrEqual(1);
        expect(stage1.every((h) => h.at >= killedAt)).toBe(true);
      } else {
        expect(stage1).toEqual(resultsBeforeRestart); // the re-run found the tick done
      }
      expect(stage1.at(-1)?.detail).toMatch(/^pass/);

      // Each stage reached each cluster once: one router write per stage, and one stage_applied.
      for (const cluster of ['eu-west', 'us-east']) {
        const writes = stack.routeWrites(cluster).filter((w) => w.rolloutId === rollout.id);
        expect(writes.map((w) => [w.operation, w.canaryWeight])).toEqual([
          ['setWeight', 0],
          ['setWeight', 50],
          ['setWeight', 100],
          ['promote', 0],
        ]);
      }
      const applied = (await store.history(rollout.id)).filter((h) => h.input === 'stage_applied');
      expect(applied.map((h) => h.detail).sort()).toEqual([
        'eu-west at 100% (stage 2)',
        'eu-west at 50% (stage 1)',
        'us-east at 100% (stage 2)',
        'us-east at 50% (stage 1)',
      ]);

      expect(await secondBot.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    },
  );
});
