import { describe, expect, it } from 'vitest';
import type { HealthSamplePayload } from '../shared/contracts/events.js';
import { silentLogger } from '../shared/log.js';
import type { RolloutPlan } from '../shared/rollout/plan.js';
import { aGate, aPlan, aWebhookResult } from '../test/support/plan-builders.js';
import { aCommit, aRolloutState, nextVersion } from '../test/support/state-builders.js';
import { MemoryHealthSampleStore } from './adapters/memory-health-samples.js';
import { MemoryRolloutStore } from './adapters/memory-rollout-store.js';
import { MemoryServiceLocks } from './adapters/memory-service-locks.js';
import { createGateRunner } from './gate-runner.js';
import { RolloutService } from './rollout-service.js';
import { RolloutDriver } from '../test/support/rollout-driver.js';
import { createRollout } from '../shared/rollout/transition.js';

const BAKE_STARTED = Date.parse('2026-11-22T03:00:00Z');
/** The builders' gate: evaluated every 60 s, at least 100 requests, error rate at most 2%. */
const GATE_INTERVAL_MS = 60_000;
/** Each sample covers the agent's last 10 s: one is fresh for 60 s + 10 s after it arrived. */
const WINDOW_MS = 10_000;

const healthy: HealthSamplePayload = {
  stageIndex: 0,
  windowMs: WINDOW_MS,
  canary: { status: 'ok', requests: 500, errors: 0, latencyMs: { p50: 10, p95: 20, p99: 30 } },
  stable: { status: 'ok', requests: 9_500, errors: 0, latencyMs: { p50: 10, p95: 20, p99: 30 } },
};

/** A rollout of checkout baking stage 0 in eu-west since BAKE_STARTED, and a clock the test sets. */
async function baking(maxClockSkewMs = 0, plan?: RolloutPlan) {
  let now = BAKE_STARTED;
  const clock = { now: () => now };
  const store = new MemoryRolloutStore();
  const samples = new MemoryHealthSampleStore();
  const service = new RolloutService({
    store,
    locks: new MemoryServiceLocks(clock),
    policy: () => {
      throw new Error('not used');
    },
    clock,
    logger: silentLogger,
    onCommitted: () => {},
  });
  const created = (plan ? aRolloutState().withPlan(plan) : aRolloutState()).build();
  const weight = created.plan.stages[0]!.weight;
  const state = nextVersion(created, {
    status: 'baking',
    seq: 1,
    bakeStartedAt: BAKE_STARTED,
    clusters: { 'eu-west': { status: 'applied', weight, appliedStage: 0 } },
    gate: { tick: 1, consecutiveFailures: 0, heldAlerted: false },
  });
  await store.create(aCommit(created));
  await store.commit(aCommit(state));
  const runGate = createGateRunner({
    service,
    samples,
    clock,
    logger: silentLogger,
    maxClockSkewMs,
  });
  return {
    id: state.id,
    /** Runs the tick the rollout waits for at `at`, and returns the verdict it stored. */
    async tick(at: number) {
      now = at;
      const current = (await store.get(state.id))!;
      await runGate({ rolloutId: state.id, stageIndex: 0, tick: current.gate.tick });
      const after = (await store.get(state.id))!;
      expect(after.gate.tick).toBe(current.gate.tick + 1);
      return after.gate.lastVerdict!;
    },
    received: (at: number, windowEnd?: number, sample: HealthSamplePayload = healthy) =>
      samples.record(state.id, {
        cluster: 'eu-west',
        receivedAt: at,
        ...(windowEnd !== undefined && { windowEnd }),
        sample,
      }),
  };
}

describe('the gate runner', () => {
  it('judges a blue-green preview with no traffic by its webhook: a pass passes, a failure fails with its reason', async () => {
    const plan = aPlan()
      .blueGreen()
      .withClusters('eu-west')
      .withGate(aGate().withWebhook('smoke'))
      .build();
    const rollout = await baking(0, plan);
    const preview = (passed: boolean): HealthSamplePayload => ({
      ...healthy,
      canary: { status: 'ok', requests: 0, errors: 0, latencyMs: { p50: 0, p95: 0, p99: 0 } },
      webhooks: [aWebhookResult('smoke', passed)],
    });
    await rollout.received(BAKE_STARTED + 50_000, undefined, preview(false));
    const failed = await rollout.tick(BAKE_STARTED + 60_000);
    expect(failed.outcome).toBe('failing');
    expect(failed.summary).toContain('webhook smoke failed in eu-west: status 500, expected 200');
    await rollout.received(BAKE_STARTED + 110_000, undefined, preview(true));
    expect((await rollout.tick(BAKE_STARTED + 120_000)).outcome).toBe('pass');
  });

  it('passes on a fresh healthy sample', async () => {
    const rollout = await baking();
    await rollout.received(BAKE_STARTED + 50_000);
    expect((await rollout.tick(BAKE_STARTED + 60_000)).outcome).toBe('pass');
  });

  it('counts a cluster whose newest sample is older than a gate interval plus its window as silent: inconclusive, never a pass', async () => {
    const rollout = await baking();
    await rollout.received(BAKE_STARTED + 10_000); // then the agent dies

    expect((await rollout.tick(BAKE_STARTED + 60_000)).outcome).toBe('pass'); // 50 s old
    const bound = BAKE_STARTED + 10_000 + GATE_INTERVAL_MS + WINDOW_MS; // 70 s old: still fresh
    expect((await rollout.tick(bound)).outcome).toBe('pass');
    const stale = await rollout.tick(bound + 1); // older than the bound
    expect(stale.outcome).toBe('inconclusive');
    expect(stale.inconclusive).toEqual([{ cluster: 'eu-west', reason: expect.any(String) }]);

    // The agent is back: its next sample counts again.
    await rollout.received(BAKE_STARTED + 175_000);
    expect((await rollout.tick(BAKE_STARTED + 180_000)).outcome).toBe('pass');
  });

  it('still ignores a sample from before the bake began, however recent', async () => {
    const rollout = await baking();
    await rollout.received(BAKE_STARTED - 1_000);
    expect((await rollout.tick(BAKE_STARTED + 5_000)).outcome).toBe('inconclusive');
  });

  it('judges a sample by when its window ended: one read from a backlog just now is as old as it is', async () => {
    const rollout = await baking();
    // Taken 10 s into the bake, delivered 90 s later (a consumer that fell behind, a redelivery).
    await rollout.received(BAKE_STARTED + 100_000, BAKE_STARTED + 10_000);
    const verdict = await rollout.tick(BAKE_STARTED + 100_000);
    expect(verdict.outcome).toBe('inconclusive');
    // The same sample, on time, passes.
    await rollout.received(BAKE_STARTED + 150_000, BAKE_STARTED + 149_000);
    expect((await rollout.tick(BAKE_STARTED + 150_000)).outcome).toBe('pass');
  });

  it('tolerates clocks that disagree by up to maxClockSkewMs around the bake start', async () => {
    const rollout = await baking(2_000);
    // The agent's clock is 1.5 s behind the bot's: its first window seems to end before the bake.
    await rollout.received(BAKE_STARTED + 5_000, BAKE_STARTED - 1_500);
    expect((await rollout.tick(BAKE_STARTED + 5_000)).outcome).toBe('pass');
  });
});

describe('the gate runner, for a rollout of several waves', () => {
  /** staging passed every stage (at 100%, its last stage); eu-west bakes stage 0 since BAKE_STARTED. */
  async function secondWaveBaking() {
    let now = BAKE_STARTED;
    const clock = { now: () => now };
    const store = new MemoryRolloutStore();
    const samples = new MemoryHealthSampleStore();
    const service = new RolloutService({
      store,
      locks: new MemoryServiceLocks(clock),
      policy: () => {
        throw new Error('not used');
      },
      clock,
      logger: silentLogger,
      onCommitted: () => {},
    });
    const plan = aPlan()
      .withStages(5, 100)
      .withWaves(['staging'], ['eu-west'], ['us-east'])
      .withGate(
        aGate().withCheck('error_rate', 'relative', 1.5).withCheck('error_rate', 'absolute', 0.02),
      )
      .build();
    const d = new RolloutDriver(plan, { now: BAKE_STARTED - 3_600_000 });
    d.start();
    d.completeStage();
    d.completeStage();
    d.now = BAKE_STARTED;
    d.applyStage();
    expect(d.state).toMatchObject({ status: 'baking', waveIndex: 1, stageIndex: 0 });
    const created = createRollout(d.state.id, plan, d.state.createdAt);
    await store.create(aCommit(created));
    await store.commit(aCommit({ ...d.state, version: 1 }));
    const runGate = createGateRunner({ service, samples, clock, logger: silentLogger });
    return {
      async tick(at: number) {
        now = at;
        const current = (await store.get(d.state.id))!;
        await runGate({ rolloutId: current.id, stageIndex: 0, tick: current.gate.tick });
        return (await store.get(d.state.id))!.gate.lastVerdict!;
      },
      received: (cluster: string, stageIndex: number, at: number, errors = 0) =>
        samples.record(d.state.id, {
          cluster,
          receivedAt: at,
          sample: {
            ...healthy,
            stageIndex,
            canary: { ...healthy.canary, errors } as HealthSamplePayload['canary'],
            // At 100% the stable version serves nothing: no baseline for relative checks.
            ...(stageIndex === 1 && {
              stable: {
                status: 'ok',
                requests: 0,
                errors: 0,
                latencyMs: { p50: 0, p95: 0, p99: 0 },
              },
            }),
          },
        }),
    };
  }

  it('judges the earlier wave by its last stage (absolute checks only) beside the current wave', async () => {
    const g = await secondWaveBaking();
    await g.received('eu-west', 0, BAKE_STARTED + 5_000);
    await g.received('staging', 1, BAKE_STARTED + 5_000);
    const verdict = await g.tick(BAKE_STARTED + 10_000);
    expect(verdict.outcome).toBe('pass');
    expect(verdict.summary).toMatch(/staging, eu-west/);
  });

  it('catches a late regression in the earlier wave', async () => {
    const g = await secondWaveBaking();
    await g.received('eu-west', 0, BAKE_STARTED + 5_000);
    await g.received('staging', 1, BAKE_STARTED + 5_000, 50);
    const verdict = await g.tick(BAKE_STARTED + 10_000);
    // The builders' gate fails after several evaluations in a row; this is the first.
    expect(verdict.outcome).toBe('failing');
    const failed = verdict.checks.filter((c) => !c.passed);
    expect(new Set(failed.map((c) => c.cluster))).toEqual(new Set(['staging']));
    // At 100% there is no stable baseline: only absolute checks judge the earlier wave.
    expect(failed.every((c) => c.kind !== 'webhook' && c.mode === 'absolute')).toBe(true);
  });

  it('waits for the earlier wave to keep reporting, and never for a wave not started', async () => {
    const g = await secondWaveBaking();
    await g.received('eu-west', 0, BAKE_STARTED + 5_000);
    const verdict = await g.tick(BAKE_STARTED + 10_000);
    expect(verdict.outcome).toBe('inconclusive');
    expect(verdict.inconclusive.map((i) => i.cluster)).toEqual(['staging']);
  });
});

describe('the gate runner, for a release member holding at 100%', () => {
  /** A one-cluster member that passed its last stage (100%) and holds, its gate still ticking. */
  async function holding() {
    let now = BAKE_STARTED;
    const clock = { now: () => now };
    const store = new MemoryRolloutStore();
    const samples = new MemoryHealthSampleStore();
    const service = new RolloutService({
      store,
      locks: new MemoryServiceLocks(clock),
      policy: () => {
        throw new Error('not used');
      },
      clock,
      logger: silentLogger,
      onCommitted: () => {},
    });
    const plan = aPlan().withStages(5, 100).withClusters('eu-west').inRelease('rel-1').build();
    const d = new RolloutDriver(plan, { now: BAKE_STARTED - 3_600_000 });
    d.start();
    d.completeStage().completeStage();
    expect(d.state.status).toBe('held');
    const created = createRollout(d.state.id, plan, d.state.createdAt);
    await store.create(aCommit(created));
    await store.commit(aCommit({ ...d.state, version: 1 }));
    const runGate = createGateRunner({ service, samples, clock, logger: silentLogger });
    return {
      get: async () => (await store.get(d.state.id))!,
      async tick(at: number, stageIndex = 1) {
        now = at;
        const current = (await store.get(d.state.id))!;
        await runGate({ rolloutId: current.id, stageIndex, tick: current.gate.tick });
        return (await store.get(d.state.id))!;
      },
      received: (at: number, errors: number) =>
        samples.record(d.state.id, {
          cluster: 'eu-west',
          receivedAt: at,
          sample: {
            ...healthy,
            stageIndex: 1,
            canary: {
              ...healthy.canary,
              requests: 10_000,
              errors,
            } as HealthSamplePayload['canary'],
            stable: { status: 'ok', requests: 0, errors: 0, latencyMs: { p50: 0, p95: 0, p99: 0 } },
          },
        }),
    };
  }

  it('judges the hold every tick: healthy, it stays held; a late regression rolls it back', async () => {
    const member = await holding();
    await member.received(BAKE_STARTED + 5_000, 0);
    const healthyTick = await member.tick(BAKE_STARTED + 10_000);
    expect(healthyTick.status).toBe('held');
    expect(healthyTick.gate.lastVerdict?.outcome).toBe('pass');
    await member.received(BAKE_STARTED + 65_000, 900);
    const first = await member.tick(BAKE_STARTED + 70_000);
    expect(first.status).toBe('held');
    expect(first.gate.lastVerdict?.outcome).toBe('failing');
    await member.received(BAKE_STARTED + 125_000, 900);
    const second = await member.tick(BAKE_STARTED + 130_000);
    expect(second.status).toBe('rolling_back');
    expect(second.rollback?.cause).toBe('gate_breached');
    expect(second.outcome).toMatch(/error_rate 9\.0% > 2\.0%/);
  });

  it('ignores a job for another stage or tick while it holds', async () => {
    const member = await holding();
    const before = await member.get();
    await member.received(BAKE_STARTED + 5_000, 900);
    const after = await member.tick(BAKE_STARTED + 10_000, 0);
    expect(after.version).toBe(before.version);
    expect(after.gate).toEqual(before.gate);
  });
});
