import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryTopicBroker } from '../shared/adapters/memory-topic-broker.js';
import { RolloutEvent } from '../shared/contracts/events.js';
import { silentLogger } from '../shared/log.js';
import {
  RolloutScript,
  startAgent,
  type AgentHarness,
  type AgentHarnessOptions,
} from '../test/support/agent-harness.js';
import { waitFor } from '../test/support/wait-for.js';
import { RolloutAgent } from './agent.js';
import type { TrafficRouter } from './routers/traffic-router.js';
import type { WebhookCheck } from '../shared/rollout/plan.js';
import { startWebhookServer, type WebhookServer } from '../test/support/webhook-server.js';

const running: AgentHarness[] = [];
const brokers: MemoryTopicBroker[] = [];
const dirs: string[] = [];

async function agentWith(options: AgentHarnessOptions = {}): Promise<AgentHarness> {
  const harness = await startAgent(options);
  running.push(harness);
  return harness;
}

function sharedBroker(): MemoryTopicBroker {
  const broker = new MemoryTopicBroker({
    handlerRetry: { initialMs: 10, maxMs: 50 },
    drainTimeoutMs: 1_000,
  });
  brokers.push(broker);
  return broker;
}

function stateFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'agent-restart-'));
  dirs.push(dir);
  return join(dir, 'eu-west.json');
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((h) => h.stop()));
  await Promise.all(brokers.splice(0).map((b) => b.close()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('RolloutAgent: commands', () => {
  it('answers set_weight with command_failed when the router reads back another weight than asked', async () => {
    // A router that can only shift traffic in steps of 10: 5% asked is 10% in the cluster, which
    // is not the stage the bot would bake and judge.
    const coarse = (inner: TrafficRouter): TrafficRouter => ({
      read: (service) => inner.read(service),
      promote: (t, m) => inner.promote(t, m),
      rollback: (t, m) => inner.rollback(t, m),
      setWeight: (t, w, m) => inner.setWeight(t, Math.round(w / 10) * 10, m),
    });
    const h = await agentWith({ wrapRouter: coarse });
    const script = new RolloutScript();
    const start = script.start();
    const setWeight = script.setWeight(0, 5);
    await h.send(start, setWeight);

    const failed = await h.events.waitFor('command_failed');
    expect(failed).toMatchObject({
      seq: setWeight.seq,
      payload: {
        commandId: setWeight.id,
        commandType: 'set_weight',
        reason: 'router reads 10%, asked 5%',
      },
    });
    expect(await h.router.read('checkout')).toMatchObject({
      canaryWeight: 10,
      canaryVersion: '2.4.1',
      applied: { rolloutId: 'rollout-1', seq: setWeight.seq },
    });
    // A weight the router can show exactly is applied as usual.
    await h.send(script.setWeight(1, 30));
    const applied = await h.events.waitFor('stage_applied');
    expect(applied.payload).toEqual({ stageIndex: 1, weight: 30 });
    expect(h.events.of('stage_applied')).toHaveLength(1);
  });

  it('a redelivered set_weight whose route shows another weight is answered command_failed again, not stage_applied', async () => {
    const coarse = (inner: TrafficRouter): TrafficRouter => ({
      read: (service) => inner.read(service),
      promote: (t, m) => inner.promote(t, m),
      rollback: (t, m) => inner.rollback(t, m),
      setWeight: (t, w, m) => inner.setWeight(t, Math.round(w / 10) * 10, m),
    });
    const h = await agentWith({ wrapRouter: coarse });
    const script = new RolloutScript();
    await h.send(script.start());
    await waitFor(() => h.router.calls.setWeight === 1, { what: 'start applied' });
    // The answer cannot be published the first time: the command comes again and is answered
    // from the route (its mark), without a second write.
    h.events.failNext(1);
    const stage0 = script.setWeight(0, 5);
    await h.send(stage0);
    const failed = await h.events.waitFor('command_failed');
    expect(failed).toMatchObject({
      seq: stage0.seq,
      payload: { reason: 'router reads 10%, asked 5%' },
    });
    expect(h.router.calls.setWeight).toBe(2);
    expect(h.events.of('stage_applied')).toEqual([]);
  });

  it('fills in every envelope: fresh id, v 1, cluster, the command’s seq, clock time, actor', async () => {
    const h = await agentWith();
    const script = new RolloutScript();
    const commands = [script.start(), script.setWeight(0, 5), script.setWeight(1, 25)];
    await h.send(...commands);
    await h.events.waitFor('stage_applied', (e) => e.payload.stageIndex === 1);

    const answers = h.events.of('stage_applied');
    expect(answers.map((e) => e.seq)).toEqual([commands[1]!.seq, commands[2]!.seq]);
    for (const event of h.events.published) {
      expect(RolloutEvent.safeParse(event).success).toBe(true);
      expect(event).toMatchObject({
        v: 1,
        cluster: 'eu-west',
        actor: 'agent:eu-west',
        at: new Date(h.clock.now()).toISOString(),
      });
    }
    const ids = h.events.published.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).not.toContain(commands[1]!.id);
  });

  it('ignores a duplicate and an older seq: no second router call, no second answer', async () => {
    const h = await agentWith();
    const script = new RolloutScript();
    const start = script.start();
    const stage0 = script.setWeight(0, 5);
    const stage1 = script.setWeight(1, 25);
    const stage2 = script.setWeight(2, 100);
    await h.send(start, stage0, stage1, stage0, stage1, start, stage2);
    // Commands of a rollout are handled in order: once stage 2 is answered, all before were seen.
    await h.events.waitFor('stage_applied', (e) => e.payload.stageIndex === 2);

    expect(h.router.calls.setWeight).toBe(4); // start + three stages
    expect(h.events.of('stage_applied').map((e) => e.payload)).toEqual([
      { stageIndex: 0, weight: 5 },
      { stageIndex: 1, weight: 25 },
      { stageIndex: 2, weight: 100 },
    ]);
    expect((await h.router.read('checkout'))?.canaryWeight).toBe(100);
  });

  it('answers a router failure with command_failed and the router’s message, and goes on', async () => {
    const h = await agentWith();
    const script = new RolloutScript();
    await h.send(script.start(), script.setWeight(0, 5));
    await h.events.waitFor('stage_applied');

    const faultId = h.simulation.injectFault({ routerFailure: ['setWeight'] });
    const failing = script.setWeight(1, 25);
    await h.send(failing);
    const failed = await h.events.waitFor('command_failed');
    expect(failed.seq).toBe(failing.seq);
    expect(failed.payload).toEqual({
      commandId: failing.id,
      commandType: 'set_weight',
      reason: expect.stringContaining(`injected fault ${faultId}`),
    });

    h.simulation.clearFaults(faultId);
    await h.send(script.rollback('set_weight failed'));
    const rolledBack = await h.events.waitFor('rolled_back');
    expect(rolledBack.payload).toEqual({ weight: 0, reason: 'set_weight failed' });
    expect(await h.router.read('checkout')).toMatchObject({
      canaryWeight: 0,
      stableVersion: '2.4.0',
    });
  });

  it('refuses a command for a rollout it never saw start, with a reason', async () => {
    const h = await agentWith();
    const orphan = new RolloutScript('rollout-orphan').atSeq(4).setWeight(1, 25);
    await h.send(orphan);
    const failed = await h.events.waitFor('command_failed');
    expect(failed.payload.reason).toMatch(/rollout rollout-orphan is unknown in cluster eu-west/);
    expect(h.router.writes).toBe(0);
  });

  it('promotes: promoted carries the new version, and the rollout is no longer active', async () => {
    const h = await agentWith();
    const script = new RolloutScript();
    await h.send(
      script.start(),
      script.setWeight(0, 5),
      script.setWeight(1, 100),
      script.promote(),
    );
    const promoted = await h.events.waitFor('promoted');
    expect(promoted.payload).toEqual({ version: '2.4.1' });
    expect(await h.router.read('checkout')).toMatchObject({
      canaryWeight: 0,
      stableVersion: '2.4.1',
    });
    expect(h.agent.activeRollouts()).toEqual([]);
  });

  it('records pause and resume without touching the router or answering', async () => {
    const h = await agentWith();
    const script = new RolloutScript();
    await h.send(script.start(), script.pause(), script.resume(), script.setWeight(0, 5));
    await h.events.waitFor('stage_applied');
    expect(h.router.writes).toBe(2);
    expect(h.events.published.map((e) => e.type).filter((t) => t !== 'agent_heartbeat')).toEqual([
      'stage_applied',
    ]);
  });

  it('when publishing an answer fails, the redelivered command is answered without a second router call', async () => {
    const h = await agentWith();
    const script = new RolloutScript();
    await h.send(script.start());
    await waitFor(() => h.router.calls.setWeight === 1, { what: 'start applied' });

    h.events.failNext(2);
    const stage0 = script.setWeight(0, 5);
    await h.send(stage0);
    const applied = await h.events.waitFor('stage_applied');
    expect(applied).toMatchObject({ seq: stage0.seq, payload: { stageIndex: 0, weight: 5 } });
    expect(h.router.calls.setWeight).toBe(2);
  });
});

describe('RolloutAgent: health samples and heartbeats', () => {
  it('samples only while it is the leader; a standby still applies commands and beats', async () => {
    let leading = false;
    const h = await agentWith({
      samplingIntervalMs: 10,
      heartbeatIntervalMs: 10,
      leader: { isLeader: () => leading },
    });
    const script = new RolloutScript();
    await h.send(script.start(), script.setWeight(0, 50));
    await h.events.waitFor('stage_applied');
    await waitFor(() => h.events.of('agent_heartbeat').length >= 5, { what: 'five heartbeats' });
    expect(h.events.samples()).toEqual([]);

    leading = true;
    await h.events.waitForSample((s) => s.rolloutId === 'rollout-1');
    leading = false;
    // Once it stands by again, sampling stops (a round already running may finish).
    const after = h.events.samples().length;
    await waitFor(() => h.events.of('agent_heartbeat').length >= 15, { what: 'more heartbeats' });
    expect(h.events.samples().length).toBeLessThanOrEqual(after + 1);
  });

  it('samples canary and stable while a rollout is active, and stops after rollback', async () => {
    const h = await agentWith({ samplingIntervalMs: 10, heartbeatIntervalMs: 10 });
    const script = new RolloutScript();
    await h.send(script.start(), script.setWeight(0, 50));
    await waitFor(() => h.events.samples().filter((e) => e.stageIndex === 0).length >= 2, {
      what: 'two samples at stage 0',
    });
    const sample = h.events.samples('rollout-1').at(-1)!;
    expect(sample.windowMs).toBe(10);
    expect(sample.canary).toMatchObject({ status: 'ok' });
    expect(sample.stable).toMatchObject({ status: 'ok' });
    await waitFor(
      () =>
        h.events.of('agent_heartbeat').some((e) => e.payload.activeRollouts.includes('rollout-1')),
      { what: 'a heartbeat listing the rollout' },
    );

    await h.send(script.rollback());
    const rolledBack = await h.events.waitFor('rolled_back');
    const beatsAtRollback = h.events.of('agent_heartbeat').length;
    await h.agent.sampleNow();
    await waitFor(() => h.events.of('agent_heartbeat').length >= beatsAtRollback + 3, {
      what: 'three more heartbeats',
    });
    const after = h.events.published.slice(h.events.published.indexOf(rolledBack) + 1);
    expect(after.filter((e) => e.type === 'health_samples')).toEqual([]);
    expect(h.events.of('agent_heartbeat').at(-1)!.payload.activeRollouts).toEqual([]);
  });

  it('reports an injected error rate in the canary’s samples', async () => {
    const h = await agentWith({ faults: [{ version: '2.4.1', errorRate: 0.1 }] });
    const script = new RolloutScript();
    await h.send(script.start(), script.setWeight(0, 50));
    await h.events.waitFor('stage_applied');
    await h.agent.sampleNow();
    const { canary, stable } = h.events.samples()[0]!;
    if (canary.status !== 'ok' || stable.status !== 'ok') throw new Error('expected measurements');
    // The sample window is one hour here: plenty of requests, so the rate is close to 10.2%.
    expect(canary.errors / canary.requests).toBeGreaterThan(0.09);
    expect(canary.errors / canary.requests).toBeLessThan(0.115);
    expect(stable.errors / stable.requests).toBeLessThan(0.01);
  });

  it('sends a heartbeat at start and every interval, about the cluster, with increasing seqs', async () => {
    const h = await agentWith({ heartbeatIntervalMs: 10, agentId: 'agent-eu-west-7' });
    await waitFor(() => h.events.of('agent_heartbeat').length >= 3, { what: 'three heartbeats' });
    const beats = h.events.of('agent_heartbeat');
    for (const beat of beats) {
      expect(beat).toMatchObject({
        rolloutId: null,
        cluster: 'eu-west',
        actor: 'agent:eu-west',
        payload: { agentId: 'agent-eu-west-7', activeRollouts: [] },
      });
    }
    const seqs = beats.map((b) => b.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it('stops cleanly: no more events after stop(), and stop() twice is fine', async () => {
    // The agent's timers run on fake time (which also follows real time, so the waits below
    // work): after stop() the test moves time far past every interval at once, which fires any
    // timer still scheduled, instead of sleeping and hoping a leaked timer would have fired.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'], shouldAdvanceTime: true });
    try {
      const h = await agentWith({ samplingIntervalMs: 5, heartbeatIntervalMs: 5 });
      const script = new RolloutScript();
      await h.send(script.start(), script.setWeight(0, 5));
      await h.events.waitFor('health_samples');
      await h.agent.stop();
      const count = h.events.published.length;
      await h.agent.stop();
      await vi.advanceTimersByTimeAsync(1_000); // two hundred sampling and heartbeat intervals
      expect(h.events.published.length).toBe(count);
      expect(vi.getTimerCount()).toBe(0); // and nothing is left to fire later
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('RolloutAgent: recovery after a restart', () => {
  it('a new agent on the same cluster file confirms a redelivered set_weight without calling the router', async () => {
    const broker = sharedBroker();
    const file = stateFile();
    const script = new RolloutScript();
    const first = await agentWith({ broker, stateFile: file });
    await first.send(script.start());
    await waitFor(() => first.router.calls.setWeight === 1, { what: 'start applied' });

    // The first agent applies stage 0 but cannot publish its answer, then dies: the command
    // stays uncommitted while the route already carries its mark.
    first.events.failNext(Number.MAX_SAFE_INTEGER);
    const stage0 = script.setWeight(0, 25);
    await first.send(stage0);
    await waitFor(() => first.router.calls.setWeight === 2, { what: 'stage 0 applied' });
    await first.stop();
    running.splice(running.indexOf(first), 1);
    expect(first.events.of('stage_applied')).toEqual([]);

    const second = await agentWith({ broker, stateFile: file, services: ['checkout'] });
    const applied = await second.events.waitFor('stage_applied');
    expect(applied).toMatchObject({ seq: stage0.seq, payload: { stageIndex: 0, weight: 25 } });
    expect(second.router.writes).toBe(0);
    expect(second.agent.activeRollouts()).toEqual(['rollout-1']);

    // The next stage is new work: applied once.
    await second.send(script.setWeight(1, 50));
    await second.events.waitFor('stage_applied', (e) => e.payload.stageIndex === 1);
    expect(second.router.calls.setWeight).toBe(1);
    expect((await second.router.read('checkout'))?.canaryWeight).toBe(50);
  });

  it('after a restart, redelivered commands at or below the route’s mark never reach the router', async () => {
    const file = stateFile();
    const script = new RolloutScript();
    const start = script.start();
    const stage0 = script.setWeight(0, 5);
    const stage1 = script.setWeight(1, 25);
    const first = await agentWith({ stateFile: file });
    await first.send(start, stage0, stage1);
    await first.events.waitFor('stage_applied', (e) => e.payload.stageIndex === 1);
    await first.stop();
    running.splice(running.indexOf(first), 1);

    // A fresh process and a fresh broker that delivers everything again.
    const second = await agentWith({ stateFile: file, services: ['checkout'] });
    expect(second.agent.activeRollouts()).toEqual(['rollout-1']);
    await second.send(start, stage0, stage1);
    const again = await second.events.waitFor('stage_applied');
    expect(again).toMatchObject({ seq: stage1.seq, payload: { stageIndex: 1, weight: 25 } });
    await second.send(script.rollback());
    await second.events.waitFor('rolled_back');
    expect(second.router.calls.setWeight).toBe(0);
    expect(second.router.calls.rollback).toBe(1);
    expect(second.events.of('stage_applied')).toHaveLength(1);
  });

  it('resumes sampling a recovered rollout at once, at the stage stored with the route: a bake brings no command', async () => {
    const file = stateFile();
    const script = new RolloutScript();
    const first = await agentWith({ stateFile: file });
    await first.send(script.start(), script.setWeight(0, 5), script.setWeight(1, 25));
    await first.events.waitFor('stage_applied', (e) => e.payload.stageIndex === 1);
    await first.stop();
    running.splice(running.indexOf(first), 1);

    // A new process, and no command for it: the rollout is baking stage 1.
    const second = await agentWith({ stateFile: file, services: ['checkout'] });
    await second.agent.sampleNow();
    const samples = second.events.samples();
    expect(samples).toHaveLength(1);
    expect(samples[0]).toMatchObject({
      rolloutId: 'rollout-1',
      stageIndex: 1,
      canary: { status: 'ok' },
      stable: { status: 'ok' },
    });
    expect(second.router.writes).toBe(0);
  });

  it('a rollback after a restart that followed the promotion restores the old version: it does not claim weight 0 on the new one', async () => {
    const file = stateFile();
    const script = new RolloutScript();
    const first = await agentWith({ stateFile: file });
    await first.send(
      script.start(),
      script.setWeight(0, 5),
      script.setWeight(1, 100),
      script.promote(),
    );
    await first.events.waitFor('promoted');
    await first.stop();
    running.splice(running.indexOf(first), 1);

    // The bot aborts while other clusters are still promoting: every cluster rolls back.
    const second = await agentWith({ stateFile: file, services: ['checkout'] });
    await second.send(script.rollback('aborted by U1: customer complaints'));
    await second.events.waitFor('rolled_back');
    expect(second.router.calls.rollback).toBe(1);
    expect(await second.router.read('checkout')).toMatchObject({
      canaryWeight: 0,
      stableVersion: '2.4.0',
    });
  });

  it('keeps a recovered rollout’s strategy: the next write after a restart leaves a blue-green route blue-green', async () => {
    const file = stateFile();
    const script = new RolloutScript();
    const first = await agentWith({ stateFile: file });
    await first.send(script.start('blue-green', [0, 100]), script.setWeight(0, 0));
    await first.events.waitFor('stage_applied');
    await first.stop();
    running.splice(running.indexOf(first), 1);

    const second = await agentWith({ stateFile: file, services: ['checkout'] });
    await second.send(script.setWeight(1, 100));
    await second.events.waitFor('stage_applied', (e) => e.payload.stageIndex === 1);
    expect(second.simulation.route('checkout')).toMatchObject({
      canaryWeight: 100,
      strategy: 'blue-green',
      applied: { stageIndex: 1, strategy: 'blue-green' },
    });
  });
});

describe('RolloutAgent: webhook checks', () => {
  let server: WebhookServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('runs the stage gate’s webhooks with each sample, and the policy’s for a rollout recovered after a restart', async () => {
    server = await startWebhookServer({ status: 200, body: { ok: true } });
    const smoke: WebhookCheck = {
      name: 'smoke',
      url: `${server.url}/smoke`,
      timeoutMs: 1_000,
      retries: 0,
      expect: { status: 200 },
    };
    const file = stateFile();
    const script = new RolloutScript();
    const first = await agentWith({ stateFile: file });
    await first.send(script.start('blue-green', [0, 100], [smoke]), script.setWeight(0, 0));
    await first.events.waitFor('stage_applied');
    await first.agent.sampleNow();
    const sample = await first.events.waitForSample();
    expect(sample.webhooks).toEqual([
      { name: 'smoke', passed: true, detail: expect.stringMatching(/^status 200 in/), attempts: 1 },
    ]);
    expect(server.calls().at(-1)?.body).toMatchObject({
      service: 'checkout',
      version: '2.4.1',
      cluster: 'eu-west',
      stageIndex: 0,
      weight: 0,
    });
    await first.stop();
    running.splice(running.indexOf(first), 1);

    // A new process knows the rollout only from its route: the policy says which checks to run.
    server.answer({ status: 500 });
    const second = await agentWith({
      stateFile: file,
      services: ['checkout'],
      webhooksByService: { checkout: [smoke] },
    });
    await second.agent.sampleNow();
    const recovered = await second.events.waitForSample();
    expect(recovered.webhooks).toEqual([
      { name: 'smoke', passed: false, detail: 'status 500, expected 200', attempts: 1 },
    ]);
  });
});

describe('RolloutAgent: configuration', () => {
  const noRouter = {} as TrafficRouter;
  const base = {
    cluster: 'eu-west',
    agentId: 'a',
    commands: { publish: async () => {}, subscribe: async () => ({ stop: async () => {} }) },
    events: { publish: async () => {}, subscribe: async () => ({ stop: async () => {} }) },
    router: noRouter,
    metrics: {
      measure: async () => ({ status: 'unavailable' as const, reason: 'none' }),
      measureAll: async (qs: readonly unknown[]) =>
        qs.map(() => ({ status: 'unavailable' as const, reason: 'none' })),
    },
    clock: { now: () => 0 },
    logger: silentLogger,
    samplingIntervalMs: 1_000,
    heartbeatIntervalMs: 1_000,
  };

  it('refuses a bad cluster name or interval, naming it', () => {
    expect(() => new RolloutAgent({ ...base, cluster: 'EU West' })).toThrow(/cluster "EU West"/);
    expect(() => new RolloutAgent({ ...base, samplingIntervalMs: 0 })).toThrow(
      /samplingIntervalMs/,
    );
  });

  it('cannot be started twice', async () => {
    const agent = new RolloutAgent(base);
    await agent.start();
    await expect(agent.start()).rejects.toThrow(/create a new one/);
    await agent.stop();
  });
});
