/**
 * The scale bench and the soak at a tiny size on the real parts (Kafka test broker, private Redis,
 * agent and bot processes, Slack through Bolt and the Web API double): only that they run every
 * rollout to success and report every figure; their timings are for `npm run bench -- --scale`.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, type ScaleSettings } from '../../bench/scale/options.js';
import { runScaleBench } from '../../bench/scale/scale-bench.js';
import { runSoak } from '../../bench/scale/soak-run.js';

const SHORT: ScaleSettings = {
  ...DEFAULT_SETTINGS,
  bakeMs: 600,
  gateIntervalMs: 200,
  samplingIntervalMs: 200,
  retentionMs: 2_000,
  deadlineMs: 120_000,
};
const quiet = () => {};

describe('npm run bench -- --scale', () => {
  it('runs 3 rollouts × 2 clusters to success and reports every figure per rollout', async () => {
    const report = await runScaleBench(
      { mode: 'scale', sizes: [{ rollouts: 3, clusters: 2 }], replicas: [1], settings: SHORT },
      quiet,
    );
    expect(report.sizes).toHaveLength(1);
    expect(report.slope).toBeUndefined();
    const size = report.sizes[0]!;
    expect(size).toMatchObject({ rollouts: 3, clusters: 2, botReplicas: 1, notes: [] });
    expect(size.outcome).toEqual({ succeeded: 3, notSucceeded: 0, finishedInTime: true });
    expect(size.wall.idealSeconds).toBeCloseTo(1.8);
    expect(size.wall.seconds).toBeGreaterThan(0);
    // Every stage of every rollout was judged at least once, and each cluster applied each stage.
    expect(size.gateLag.evaluations).toBeGreaterThanOrEqual(3 * 3);
    expect(size.gateLag.p99Seconds).toBeGreaterThanOrEqual(size.gateLag.p50Seconds);
    expect(size.commandLatency.samples).toBeGreaterThanOrEqual(3 * 2 * 2);
    expect(size.commandLatency.p99Ms).toBeGreaterThanOrEqual(size.commandLatency.p50Ms);
    // Every command split into its legs, each measured (a leg that was never timed is NaN).
    expect(Object.keys(size.commandLegs)).toEqual([
      'outbox',
      'produce',
      'agent',
      'events',
      'handle',
    ]);
    for (const leg of Object.values(size.commandLegs)) {
      expect(Number.isFinite(leg.p50Ms)).toBe(true);
      expect(leg.p99Ms).toBeGreaterThanOrEqual(leg.p50Ms);
    }
    expect(size.bot.peakRssMb).toHaveLength(1);
    expect(size.bot.peakRssMb[0]).toBeGreaterThan(0);
    expect(size.bot.cpuSecondsPerRollout).toBeGreaterThan(0);
    expect(size.agents.peakRssMb.max).toBeGreaterThan(0);
    expect(size.agents.cpuSecondsPerRollout).toBeGreaterThan(0);
    // The machine's split: Redis worked, and the known parts are the /proc readings above.
    expect(size.machineCpu.cpus).toBeGreaterThan(0);
    expect(size.machineCpu.busyPercent).toBeGreaterThan(0);
    expect(size.machineCpu.busyPercent).toBeLessThanOrEqual(100);
    expect(size.machineCpu.perRolloutSeconds.redis).toBeGreaterThan(0);
    expect(size.machineCpu.perRolloutSeconds.bench).toBeGreaterThan(0);
    expect(size.machineCpu.perRolloutSeconds.bot).toBe(size.bot.cpuSecondsPerRollout);
    expect(size.machineCpu.perRolloutSeconds.agents).toBe(size.agents.cpuSecondsPerRollout);
    expect(size.redis.bytesPerActiveRollout).toBeGreaterThan(0);
    expect(size.redis.peakUsedMemoryMb).toBeGreaterThan(0);
    // What the finished rollouts left, by kind: every kind counted, and none of it a rollout's own
    // record (state, history or summary) after the retention. (The census and the totals are read
    // at different moments, a key may expire between them: they are not compared exactly.)
    const kinds = Object.entries(size.redis.keysLeftByKind);
    for (const [name, kind] of kinds) {
      expect(kind.keys, name).toBeGreaterThan(0);
      expect(kind.bytes, name).toBeGreaterThan(0);
    }
    for (const [name] of kinds) expect(name).not.toMatch(/^rollout:(state|history|summary):/);
    const cost = size.perRollout;
    expect(Object.keys(cost.kafkaMessages).sort()).toEqual(
      expect.arrayContaining(['rollout.commands.c01', 'rollout.commands.c02', 'rollout.events']),
    );
    for (const count of Object.values(cost.kafkaMessages)) expect(count).toBeGreaterThan(0);
    expect(cost.redisCommands).toBeGreaterThan(0);
    // Every card came to show its rollout's end, a few seconds at most after it.
    expect(cost.cardEnded).toMatchObject({ shown: 3, notShown: 0 });
    expect(cost.cardEnded.p99Seconds).toBeGreaterThanOrEqual(cost.cardEnded.p50Seconds);
    // And each card's thread said so.
    expect(cost.endLine).toMatchObject({ shown: 3, notShown: 0 });
    expect(cost.endLine.p50Seconds).toBeGreaterThanOrEqual(0);
    expect(cost.redisCommandsByName.evalsha).toBeGreaterThan(0);
    expect(cost.slackCalls['chat.postMessage']).toBeGreaterThan(0);
    expect(cost.slack429s).toBe(0);
    // start + two stage shifts + promote in each of two clusters, each read back.
    expect(cost.kubernetesCalls.setWeight).toBeGreaterThanOrEqual(3 * 2);
    expect(cost.kubernetesCalls.promote).toBeGreaterThanOrEqual(2);
    expect(cost.prometheusQueries).toBeGreaterThan(0);
  }, 240_000);
});

describe('npm run bench -- --soak', () => {
  it('runs short rollouts in batches and samples memory as it goes', async () => {
    const result = await runSoak(
      {
        mode: 'soak',
        rollouts: 4,
        concurrency: 2,
        clusters: 1,
        sampleEveryMs: 1,
        settings: { ...SHORT, stages: [50, 100], bakeMs: 300 },
      },
      quiet,
    );
    expect(result).toMatchObject({ rollouts: 4, succeeded: 4, notes: [] });
    // One before, one after each of the two batches.
    expect(result.samples).toHaveLength(3);
    expect(result.samples.map((s) => s.rollouts)).toEqual([0, 2, 4]);
    for (const s of result.samples) {
      expect(s.botRssMb).toBeGreaterThan(0);
      expect(s.redisUsedMb).toBeGreaterThan(0);
      expect(s.redisKeys).toBeGreaterThan(0);
    }
    expect(Number.isFinite(result.botRss.mbPer1000Rollouts)).toBe(true);
  }, 240_000);
});
