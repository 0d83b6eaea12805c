import { describe, expect, it } from 'vitest';
import { aPlan, aVerdict } from '../../test/support/plan-builders.js';
import { commandsIn, effectsOf, RolloutDriver } from '../../test/support/rollout-driver.js';

/** A release member in two waves: it holds at 100% instead of promoting on its own. */
const member = () =>
  aPlan().withStages(25, 50, 100).withWaves(['staging'], ['eu-west']).inRelease('rel-7').build();

const reports = (d: RolloutDriver) =>
  effectsOf(d.history, 'report_to_release').map((e) => e.report);

describe('a rollout that is a release member', () => {
  it('reports the stages passed in every wave, then holds at 100% without promoting', () => {
    const d = new RolloutDriver(member());
    d.start();
    // Wave 1 passing its stages is not yet "passed in every wave".
    for (let i = 0; i < 3; i++) d.completeStage();
    expect(reports(d)).toEqual([]);
    d.completeStage().completeStage();
    expect(reports(d)).toEqual([
      { kind: 'progress', passedWeight: 25 },
      { kind: 'progress', passedWeight: 50 },
    ]);
    d.completeStage();
    expect(d.state.status).toBe('held');
    expect(commandsIn(d.history).filter((c) => c.includes('promote'))).toEqual([]);
    expect(reports(d).at(-1)).toEqual({ kind: 'held' });
    // Held keeps the lock: nothing released yet.
    expect(effectsOf(d.history, 'release_lock')).toEqual([]);
    expect(effectsOf(d.history, 'report_to_release')[0]!.releaseId).toBe('rel-7');
  });

  it('promotes everywhere when the release says so, and reports that it ended', () => {
    const d = new RolloutDriver(member());
    d.start();
    for (let i = 0; i < 6; i++) d.completeStage();
    expect(commandsIn(d.accept({ type: 'promote_held', actor: 'system:release' }))).toEqual([
      'staging:promote',
      'eu-west:promote',
    ]);
    d.accept({ type: 'promoted', cluster: 'staging' });
    d.accept({ type: 'promoted', cluster: 'eu-west' });
    expect(d.state.status).toBe('succeeded');
    expect(reports(d).at(-1)).toMatchObject({ kind: 'ended', status: 'succeeded' });
  });

  it('goes back to 0% from the hold when the release rolls it back', () => {
    const d = new RolloutDriver(member());
    d.start();
    for (let i = 0; i < 6; i++) d.completeStage();
    const effects = d.accept({ type: 'abort', actor: 'system:release', reason: 'checkout failed' });
    expect(commandsIn(effects)).toEqual(['staging:rollback', 'eu-west:rollback']);
    d.rollBackEverywhere();
    expect(d.state.status).toBe('aborted');
    expect(reports(d).at(-1)).toMatchObject({ kind: 'ended', status: 'aborted' });
  });

  it('refuses promote_held unless it holds, and a rollout outside a release never holds', () => {
    const d = new RolloutDriver(member());
    d.start();
    expect(d.send({ type: 'promote_held', actor: 'system:release' })).toMatchObject({
      ok: false,
      code: 'invalid_transition',
    });
    const alone = new RolloutDriver(aPlan().withStages(50, 100).build());
    alone.start();
    alone.completeStage().completeStage();
    expect(alone.state.status).toBe('promoting');
    expect(effectsOf(alone.history, 'report_to_release')).toEqual([]);
  });
});

describe('a release member holding at 100%', () => {
  /** A member driven to its hold (two waves, three stages each). */
  const holding = () => {
    const d = new RolloutDriver(member());
    d.start();
    for (let i = 0; i < 6; i++) d.completeStage();
    expect(d.state.status).toBe('held');
    return d;
  };

  it('keeps its last stage gate ticking while it holds', () => {
    const before = new RolloutDriver(member());
    before.start();
    for (let i = 0; i < 5; i++) before.completeStage();
    before.applyStage();
    const lastTick = before.state.gate.tick;
    const effects = before.passGate();
    expect(before.state.status).toBe('held');
    // The tick count goes on from the bake's: the scheduler runs each (stage, tick) once.
    expect(effectsOf(effects, 'schedule_gate')).toEqual([
      { type: 'schedule_gate', stageIndex: 2, tick: lastTick + 1, delayMs: expect.any(Number) },
    ]);
  });

  it('stays held on a pass, an inconclusive or a failing tick, asking for the next each time', () => {
    const d = holding();
    for (const outcome of ['pass', 'inconclusive', 'failing', 'pass'] as const) {
      const tick = d.state.gate.tick;
      const effects = d.endBake().gate(outcome);
      expect(d.state.status, outcome).toBe('held');
      expect(
        effectsOf(effects, 'schedule_gate').map((e) => e.tick),
        outcome,
      ).toEqual([tick + 1]);
      // A hold is not a bake: no approval asked, nothing promoted, nobody paged for a pass.
      expect(commandsIn(effects), outcome).toEqual([]);
      expect(effectsOf(effects, 'notify'), outcome).toEqual([]);
    }
    expect(reports(d).filter((r) => r.kind === 'held')).toHaveLength(1);
  });

  it('rolls back every wave on a breach while it holds, alerts, and reports the end to its release', () => {
    const d = holding();
    const effects = d.gate('fail');
    expect(d.state.status).toBe('rolling_back');
    expect(d.state.rollback?.cause).toBe('gate_breached');
    expect(commandsIn(effects)).toEqual(['staging:rollback', 'eu-west:rollback']);
    expect(effectsOf(effects, 'notify').map((n) => n.kind)).toEqual(['gate_breached']);
    expect(effectsOf(effects, 'cancel_gates')).toHaveLength(1);
    d.rollBackEverywhere();
    expect(d.state.status).toBe('rolled_back');
    expect(reports(d).at(-1)).toMatchObject({
      kind: 'ended',
      status: 'rolled_back',
      outcome: expect.stringMatching(/^gate breached at /),
    });
    expect(effectsOf(d.history, 'release_lock')).toHaveLength(1);
  });

  it('refuses a stale or duplicate tick while it holds, and recovers a lost one', () => {
    const d = holding();
    const { tick } = d.state.gate;
    expect(
      d.send({ type: 'gate_result', stageIndex: 2, tick: tick - 1, verdict: aVerdict('fail') }),
    ).toMatchObject({ ok: false, code: 'stale_event' });
    expect(d.state.status).toBe('held');
    const lost = d.accept({ type: 'gate_lost', stageIndex: 2, tick });
    expect(effectsOf(lost, 'schedule_gate').map((e) => e.tick)).toEqual([tick + 1]);
  });

  it('stops being judged once the release promotes it', () => {
    const d = holding();
    const { tick } = d.state.gate;
    const effects = d.accept({ type: 'promote_held', actor: 'system:release' });
    expect(effectsOf(effects, 'cancel_gates')).toHaveLength(1);
    expect(
      d.send({ type: 'gate_result', stageIndex: 2, tick, verdict: aVerdict('fail') }),
    ).toMatchObject({ ok: false, code: 'stale_event' });
    expect(d.state.status).toBe('promoting');
  });
});

describe('a release member holding before it widens (a provider with contract checks)', () => {
  const provider = () => ({
    ...aPlan()
      .withStages(5, 50, 100)
      .withWaves(['staging'], ['eu-west'])
      .inRelease('rel-7')
      .build(),
    holdBeforeWidening: true,
  });

  it('holds after its first stage passed, still judged, and reports that it awaits widening', () => {
    const d = new RolloutDriver(provider());
    d.start();
    d.applyStage();
    const tick = d.state.gate.tick;
    const effects = d.passGate();
    expect(d.state).toMatchObject({ status: 'held', stageIndex: 0 });
    expect(commandsIn(effects)).toEqual([]);
    expect(effectsOf(effects, 'schedule_gate').map((e) => e.tick)).toEqual([tick + 1]);
    expect(reports(d)).toEqual([{ kind: 'awaiting_widening' }]);
    // It is at its first stage, not at 100%: the release may not promote it.
    expect(d.send({ type: 'promote_held', actor: 'system:release' })).toMatchObject({
      ok: false,
      code: 'invalid_transition',
    });
  });

  it('widens when the release lets it, and holds only once: the next waves widen on their own', () => {
    const d = new RolloutDriver(provider());
    d.start();
    d.completeStage();
    const widened = d.accept({ type: 'widen_held', actor: 'system:release' });
    expect(commandsIn(widened)).toEqual(['staging:set_weight 50']);
    expect(d.state).toMatchObject({ status: 'progressing', stageIndex: 1 });
    // Wave 1's last stage, then wave 2 from its first stage to 100% without holding again.
    d.completeStage().completeStage();
    expect(d.state).toMatchObject({ status: 'progressing', waveIndex: 1, stageIndex: 0 });
    d.completeStage().completeStage().completeStage();
    expect(d.state.status).toBe('held');
    expect(reports(d).map((r) => r.kind)).toEqual([
      'awaiting_widening',
      'progress',
      'progress',
      'held',
    ]);
    // widen_held is refused anywhere but the hold before widening.
    expect(d.send({ type: 'widen_held', actor: 'system:release' })).toMatchObject({
      ok: false,
      code: 'invalid_transition',
    });
  });

  it('rolls back from the hold on a breach or when the release sends it back', () => {
    const breached = new RolloutDriver(provider());
    breached.start();
    breached.completeStage();
    breached.gate('fail');
    expect(breached.state.status).toBe('rolling_back');
    expect(commandsIn(breached.effects)).toEqual(['staging:rollback']);
    const refused = new RolloutDriver(provider());
    refused.start();
    refused.completeStage();
    const effects = refused.accept({
      type: 'abort',
      actor: 'system:release',
      reason: 'can-i-deploy says no',
    });
    expect(commandsIn(effects)).toEqual(['staging:rollback']);
    refused.rollBackEverywhere();
    expect(reports(refused).at(-1)).toMatchObject({ kind: 'ended', status: 'aborted' });
  });

  it('never holds before widening when its only stage is its last', () => {
    const d = new RolloutDriver({
      ...aPlan().withStages(100).inRelease('rel-7').build(),
      holdBeforeWidening: true,
    });
    d.start();
    d.completeStage();
    expect(reports(d)).toEqual([{ kind: 'held' }]);
    expect(d.accept({ type: 'promote_held', actor: 'system:release' })).toBeDefined();
  });
});
