import { describe, expect, it } from 'vitest';
import { aFailedCheck, aGate, aPlan, aVerdict } from '../../test/support/plan-builders.js';
import {
  commandsIn,
  effectsOf,
  RolloutDriver,
  rolloutIn,
  T0,
} from '../../test/support/rollout-driver.js';
import type { RolloutPlan } from './plan.js';
import { TERMINAL_STATUSES, type RolloutInput } from './state.js';
import { createRollout, transition } from './transition.js';

const twoClusters = () => aPlan().withStages(5, 25, 100).withClusters('eu', 'us').build();

describe('createRollout', () => {
  it('starts pending at version 0 with every cluster pending at weight 0', () => {
    const state = createRollout('r-1', twoClusters(), T0);
    expect(state).toMatchObject({
      status: 'pending',
      version: 0,
      seq: 0,
      stageIndex: 0,
      createdAt: T0,
    });
    expect(state.clusters).toEqual({
      eu: { status: 'pending', weight: 0, appliedStage: -1 },
      us: { status: 'pending', weight: 0, appliedStage: -1 },
    });
  });

  it('refuses a plan that breaks a stage rule', () => {
    const plan = { ...twoClusters(), stages: twoClusters().stages.slice(0, 2) } as RolloutPlan;
    expect(() => createRollout('r-1', plan, T0)).toThrow(/last stage must be 100/);
  });
});

describe('start', () => {
  it('publishes start then set_weight to every cluster, one seq per message', () => {
    const d = new RolloutDriver(twoClusters());
    const effects = d.start();
    expect(commandsIn(effects)).toEqual([
      'eu:start',
      'eu:set_weight 5',
      'us:start',
      'us:set_weight 5',
    ]);
    expect(effectsOf(effects, 'publish_command').map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(effects.at(-1)).toEqual({ type: 'update_card' });
    expect(d.state).toMatchObject({ status: 'progressing', stageIndex: 0, seq: 4, version: 1 });
    expect(Object.values(d.state.clusters).map((c) => c.status)).toEqual(['applying', 'applying']);
  });

  it('sends the whole plan in the start command', () => {
    const d = new RolloutDriver(twoClusters());
    const [first] = effectsOf(d.start(), 'publish_command');
    expect(first!.command).toEqual({
      type: 'start',
      payload: {
        service: 'checkout',
        version: '2.4.1',
        stableVersion: '2.4.0',
        strategy: 'canary',
        stages: d.plan.stages,
      },
    });
  });

  it('is refused once started, with the current state in the reason', () => {
    const d = rolloutIn('baking', twoClusters());
    const result = d.send({ type: 'start', actor: 'U1' });
    expect(result).toMatchObject({ ok: false, code: 'invalid_transition' });
    expect(!result.ok && result.reason).toMatch(
      /cannot start: checkout 2.4.1 \(r-1\) is baking stage 1\/3 \(5%\); possible now: pause, abort/,
    );
  });
});

describe('stage_applied', () => {
  it('bakes only when every target cluster applied the stage', () => {
    const d = rolloutIn('progressing', twoClusters());
    d.advance(1_000).applyStage('eu');
    expect(d.state.status).toBe('progressing');
    expect(d.state.clusters.eu).toEqual({ status: 'applied', weight: 5, appliedStage: 0 });
    expect(effectsOf(d.effects, 'schedule_gate')).toEqual([]);

    d.advance(1_000).applyStage('us');
    expect(d.state).toMatchObject({ status: 'baking', bakeStartedAt: T0 + 2_000 });
    expect(d.state.gate).toMatchObject({ tick: 1, consecutiveFailures: 0, heldAlerted: false });
    expect(effectsOf(d.effects, 'schedule_gate')).toEqual([
      { type: 'schedule_gate', stageIndex: 0, tick: 1, delayMs: 60_000 },
    ]);
  });

  it.each<[string, RolloutInput, string, RegExp]>([
    [
      'a duplicate',
      { type: 'stage_applied', cluster: 'eu', stageIndex: 1, weight: 25 },
      'stale_event',
      /duplicate/,
    ],
    [
      'an older stage',
      { type: 'stage_applied', cluster: 'us', stageIndex: 0, weight: 5 },
      'stale_event',
      /stage 1\/3 \(5%\) is stale: .* is at stage 2\/3/,
    ],
    [
      'a cluster outside the plan',
      { type: 'stage_applied', cluster: 'ap', stageIndex: 1, weight: 25 },
      'unknown_cluster',
      /ap, which is not a target .*targets: eu, us/,
    ],
    [
      'a stage never commanded',
      { type: 'stage_applied', cluster: 'us', stageIndex: 2, weight: 100 },
      'invalid_transition',
      /never commanded/,
    ],
    [
      'a weight the stage did not command',
      { type: 'stage_applied', cluster: 'us', stageIndex: 1, weight: 30 },
      'invalid_transition',
      /weight 30%, but the stage commands 25%/,
    ],
  ])('refuses %s', (_, input, code, reason) => {
    const d = rolloutIn('progressing', twoClusters(), { stage: 1 }).applyStage('eu');
    const result = d.send(input);
    expect(result).toMatchObject({ ok: false, code });
    expect(!result.ok && result.reason).toMatch(reason);
  });

  it('refuses a duplicate once baking (never silently accepted)', () => {
    const d = rolloutIn('baking', twoClusters());
    expect(
      d.send({ type: 'stage_applied', cluster: 'us', stageIndex: 0, weight: 5 }),
    ).toMatchObject({
      ok: false,
      code: 'stale_event',
    });
  });

  it('is refused before the rollout started', () => {
    const d = rolloutIn('pending', twoClusters());
    const result = d.send({ type: 'stage_applied', cluster: 'eu', stageIndex: 0, weight: 5 });
    expect(result).toMatchObject({ ok: false, code: 'invalid_transition' });
    expect(!result.ok && result.reason).toMatch(
      /pending \(not started\); possible now: start, abort/,
    );
  });
});

describe('gate_result', () => {
  const plan = () =>
    aPlan()
      .withStages(5, 25, 100)
      .withClusters('eu', 'us')
      .withBake(600_000)
      .withGate(aGate().withInterval(60_000))
      .build();

  it('keeps baking and schedules the next tick while failing', () => {
    const d = rolloutIn('baking', plan());
    const effects = d.gate('failing', { consecutiveFailures: 1 });
    expect(d.state.status).toBe('baking');
    expect(d.state.gate).toMatchObject({ tick: 2, consecutiveFailures: 1 });
    expect(d.state.gate.lastVerdict?.outcome).toBe('failing');
    expect(effectsOf(effects, 'schedule_gate')).toEqual([
      { type: 'schedule_gate', stageIndex: 0, tick: 2, delayMs: 60_000 },
    ]);
  });

  it('keeps baking on a pass before the bake time is over', () => {
    const d = rolloutIn('baking', plan());
    d.advance(599_999).gate('pass');
    expect(d.state).toMatchObject({ status: 'baking', stageIndex: 0 });
    expect(effectsOf(d.effects, 'schedule_gate')).toHaveLength(1);
  });

  it('moves every cluster to the next stage on a pass after the bake', () => {
    const d = rolloutIn('baking', plan());
    const effects = d.passGate();
    expect(d.state).toMatchObject({ status: 'progressing', stageIndex: 1 });
    expect(commandsIn(effects)).toEqual(['eu:set_weight 25', 'us:set_weight 25']);
    expect(effectsOf(effects, 'publish_command').map((e) => e.seq)).toEqual([5, 6]);
    expect(Object.values(d.state.clusters).map((c) => c.status)).toEqual(['applying', 'applying']);
  });

  it('promotes every cluster after the last stage passes', () => {
    const d = rolloutIn('baking', plan(), { stage: 2 });
    const effects = d.passGate();
    expect(d.state.status).toBe('promoting');
    expect(commandsIn(effects)).toEqual(['eu:promote', 'us:promote']);
  });

  it('rolls back everywhere on fail, naming the breached check, value, threshold and cluster', () => {
    const d = rolloutIn('baking', plan(), { stage: 1 });
    const effects = d.gate('fail', {
      consecutiveFailures: 2,
      checks: [
        aFailedCheck({ cluster: 'eu', measured: 0.079, threshold: 0.02 }),
        aFailedCheck({
          cluster: 'us',
          metric: 'latency_p99',
          mode: 'relative',
          measured: 412,
          threshold: 300,
          baseline: 200,
        }),
      ],
    });
    expect(d.state).toMatchObject({ status: 'rolling_back', rollback: { cause: 'gate_breached' } });
    expect(effects.slice(0, 3).map((e) => e.type)).toEqual([
      'publish_command',
      'publish_command',
      'cancel_gates',
    ]);
    expect(commandsIn(effects)).toEqual(['eu:rollback', 'us:rollback']);
    const [alert] = effectsOf(effects, 'notify');
    expect(alert!.kind).toBe('gate_breached');
    expect(alert!.message).toContain('error_rate 7.9% > 2.0% (absolute) in eu');
    expect(alert!.message).toContain('latency_p99 412ms > 300ms (1.5× stable 200ms) in us');
    expect(alert!.message).toContain('stage 2/3 (25%)');
  });

  it.each([
    ['another tick', (d: RolloutDriver) => ({ stageIndex: 0, tick: d.state.gate.tick + 1 })],
    ['an earlier tick', (d: RolloutDriver) => ({ stageIndex: 0, tick: d.state.gate.tick - 1 })],
    ['another stage', (d: RolloutDriver) => ({ stageIndex: 1, tick: d.state.gate.tick })],
  ])('refuses a result for %s as stale', (_, at) => {
    const d = rolloutIn('baking', plan());
    d.gate('failing', { consecutiveFailures: 1 });
    const result = d.send({ type: 'gate_result', ...at(d), verdict: d.state.gate.lastVerdict! });
    expect(result).toMatchObject({ ok: false, code: 'stale_event' });
    expect(!result.ok && result.reason).toMatch(/waiting for stage 1\/3 \(5%\) tick 2/);
  });

  it('refuses a result when not baking as stale', () => {
    const d = rolloutIn('progressing', plan());
    const result = d.send({
      type: 'gate_result',
      stageIndex: 0,
      tick: 0,
      verdict: aVerdict('pass'),
    });
    expect(result).toMatchObject({ ok: false, code: 'stale_event' });
  });

  describe('inconclusive', () => {
    it('keeps baking quietly before the bake is over', () => {
      const d = rolloutIn('baking', plan());
      const effects = d.gate('inconclusive');
      expect(d.state.status).toBe('baking');
      expect(effectsOf(effects, 'notify')).toEqual([]);
      expect(effectsOf(effects, 'schedule_gate')).toHaveLength(1);
    });

    it('holds after the bake and alerts once per stage', () => {
      const d = rolloutIn('baking', plan());
      const first = d.endBake().gate('inconclusive');
      expect(d.state).toMatchObject({ status: 'baking', gate: { heldAlerted: true } });
      expect(effectsOf(first, 'notify').map((n) => n.kind)).toEqual(['gate_inconclusive']);
      expect(effectsOf(first, 'schedule_gate')).toHaveLength(1);

      const second = d.advance(60_000).gate('inconclusive');
      expect(effectsOf(second, 'notify')).toEqual([]);
      expect(effectsOf(second, 'schedule_gate')).toHaveLength(1);

      d.gate('pass');
      expect(d.state).toMatchObject({
        status: 'progressing',
        stageIndex: 1,
        gate: { heldAlerted: false },
      });
    });

    it('leaves the failure streak as it was', () => {
      const d = rolloutIn('baking', plan());
      d.gate('failing', { consecutiveFailures: 1 });
      d.gate('inconclusive', { consecutiveFailures: 1 });
      expect(d.state.gate.consecutiveFailures).toBe(1);
    });
  });
});

describe('promoted', () => {
  it('succeeds, releases the lock and updates the card when every cluster promoted', () => {
    const d = rolloutIn('promoting', twoClusters());
    d.accept({ type: 'promoted', cluster: 'eu' });
    expect(d.state.status).toBe('promoting');
    expect(d.state.clusters.eu).toMatchObject({ status: 'promoted', weight: 100 });
    const effects = d.accept({ type: 'promoted', cluster: 'us' });
    expect(d.state.status).toBe('succeeded');
    expect(effects).toEqual([
      { type: 'release_lock', service: 'checkout' },
      { type: 'update_card' },
    ]);
  });

  it.each<[string, RolloutInput, string]>([
    ['a duplicate', { type: 'promoted', cluster: 'eu' }, 'stale_event'],
    ['a cluster outside the plan', { type: 'promoted', cluster: 'ap' }, 'unknown_cluster'],
  ])('refuses %s', (_, input, code) => {
    const d = rolloutIn('promoting', twoClusters());
    d.accept({ type: 'promoted', cluster: 'eu' });
    expect(d.send(input)).toMatchObject({ ok: false, code });
  });

  it('is refused before promotion', () => {
    const d = rolloutIn('baking', twoClusters());
    expect(d.send({ type: 'promoted', cluster: 'eu' })).toMatchObject({
      ok: false,
      code: 'invalid_transition',
    });
  });
});

describe('blue-green', () => {
  it('previews at 0%, switches to 100% after the gate, then promotes', () => {
    const d = new RolloutDriver(aPlan().blueGreen().withClusters('eu', 'us').build());
    expect(commandsIn(d.start())).toEqual([
      'eu:start',
      'eu:set_weight 0',
      'us:start',
      'us:set_weight 0',
    ]);
    d.applyStage();
    expect(d.state.status).toBe('baking');
    expect(commandsIn(d.passGate())).toEqual(['eu:set_weight 100', 'us:set_weight 100']);
    d.applyStage();
    expect(commandsIn(d.passGate())).toEqual(['eu:promote', 'us:promote']);
    d.accept({ type: 'promoted', cluster: 'eu' });
    d.accept({ type: 'promoted', cluster: 'us' });
    expect(d.state.status).toBe('succeeded');
  });

  it('counts the 0% preview as applied only when every cluster reported it', () => {
    const d = rolloutIn('progressing', aPlan().blueGreen().withClusters('eu', 'us').build());
    d.applyStage('us');
    expect(d.state.status).toBe('progressing');
    d.applyStage('eu');
    expect(d.state.status).toBe('baking');
  });
});

describe('every accepted input', () => {
  it('adds one to version and stamps updatedAt', () => {
    const d = new RolloutDriver(twoClusters());
    d.advance(5).start();
    expect(d.state).toMatchObject({ version: 1, updatedAt: T0 + 5, createdAt: T0 });
    d.advance(5).applyStage('eu');
    expect(d.state).toMatchObject({ version: 2, updatedAt: T0 + 10 });
  });

  it('leaves the given state untouched', () => {
    const d = rolloutIn('baking', twoClusters());
    const before = structuredClone(d.state);
    transition(d.state, { type: 'pause', actor: 'U1' }, T0);
    expect(d.state).toEqual(before);
  });
});

describe('a terminal rollout', () => {
  const inputs: RolloutInput[] = [
    { type: 'start', actor: 'U1' },
    { type: 'approve', actor: 'U-lead' },
    { type: 'pause', actor: 'U1' },
    { type: 'resume', actor: 'U1' },
    { type: 'abort', actor: 'U1', reason: 'late' },
    { type: 'stage_applied', cluster: 'eu', stageIndex: 0, weight: 5 },
    { type: 'promoted', cluster: 'eu' },
    { type: 'rolled_back', cluster: 'eu' },
  ];

  it.each(TERMINAL_STATUSES)('refuses every input once %s', (status) => {
    const d = rolloutIn(status, twoClusters());
    for (const input of inputs) {
      const result = d.send(input);
      expect(result).toMatchObject({ ok: false, code: 'terminal' });
      expect(!result.ok && result.reason).toMatch(/has ended.*start a new rollout/);
    }
  });
});

describe('gate_lost', () => {
  const plan = () =>
    aPlan().withStages(5, 100).withClusters('eu').withGate(aGate().withInterval(60_000)).build();

  it('schedules a new tick for the awaited one, and the bake goes on', () => {
    const d = rolloutIn('baking', plan());
    const effects = d.accept({ type: 'gate_lost', stageIndex: 0, tick: 1 });
    expect(d.state).toMatchObject({ status: 'baking', gate: { tick: 2 } });
    expect(effectsOf(effects, 'schedule_gate')).toEqual([
      { type: 'schedule_gate', stageIndex: 0, tick: 2, delayMs: 60_000 },
    ]);
    // The lost tick's result, should it still come, is stale; the new one counts.
    expect(
      d.send({ type: 'gate_result', stageIndex: 0, tick: 1, verdict: aVerdict('pass') }),
    ).toMatchObject({ ok: false, code: 'stale_event' });
  });

  it('is stale once a result moved the gate on, and when not baking', () => {
    const d = rolloutIn('baking', plan());
    d.gate('failing', { consecutiveFailures: 1 });
    expect(d.send({ type: 'gate_lost', stageIndex: 0, tick: 1 })).toMatchObject({
      ok: false,
      code: 'stale_event',
    });
    const paused = rolloutIn('paused', plan());
    expect(
      paused.send({ type: 'gate_lost', stageIndex: 0, tick: paused.state.gate.tick }),
    ).toMatchObject({ ok: false, code: 'stale_event' });
  });
});
