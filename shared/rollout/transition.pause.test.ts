import { describe, expect, it } from 'vitest';
import { aPlan, aVerdict } from '../../test/support/plan-builders.js';
import { commandsIn, effectsOf, rolloutIn } from '../../test/support/rollout-driver.js';

const plan = () =>
  aPlan()
    .withStages(5, 25, 100)
    .withClusters('eu', 'us')
    .withBake(600_000)
    .withApproval({}, { atStage: 1 })
    .build();

describe('pause', () => {
  it.each([
    ['progressing', 0],
    ['baking', 0],
    ['awaiting_approval', 1],
  ] as const)('holds a rollout that is %s', (from, stage) => {
    const d = rolloutIn(from, plan(), { stage });
    const effects = d.accept({ type: 'pause', actor: 'U1' });
    expect(d.state).toMatchObject({ status: 'paused', pausedFrom: from });
    expect(effects[0]).toEqual({ type: 'cancel_gates' });
    expect(commandsIn(effects)).toEqual(['eu:pause', 'us:pause']);
    expect(effects.at(-1)).toEqual({ type: 'update_card' });
  });

  it.each(['pending', 'paused', 'promoting', 'rolling_back'] as const)(
    'is refused while %s',
    (status) => {
      const d = rolloutIn(status, plan());
      const result = d.send({ type: 'pause', actor: 'U1' });
      expect(result).toMatchObject({ ok: false, code: 'invalid_transition' });
      expect(!result.ok && result.reason).toMatch(
        /^cannot pause: checkout 2.4.1 \(r-1\) is .*; (possible now|nothing to do)/,
      );
    },
  );

  it('makes a gate result that arrives while paused stale', () => {
    const d = rolloutIn('paused', plan());
    const result = d.send({
      type: 'gate_result',
      stageIndex: 0,
      tick: 1,
      verdict: aVerdict('pass'),
    });
    expect(result).toMatchObject({ ok: false, code: 'stale_event' });
    expect(!result.ok && result.reason).toMatch(/ignored: .* is paused \(was baking stage 1\/3/);
  });
});

describe('resume', () => {
  it('restarts the bake with a new gate tick, keeping the failure streak', () => {
    const d = rolloutIn('baking', plan());
    d.advance(300_000).gate('failing', { consecutiveFailures: 1 });
    expect(d.state.gate.tick).toBe(2);
    d.accept({ type: 'pause', actor: 'U1' });
    const effects = d.advance(60_000).accept({ type: 'resume', actor: 'U1' });
    expect(commandsIn(effects)).toEqual(['eu:resume', 'us:resume']);
    expect(d.state).toMatchObject({
      status: 'baking',
      bakeStartedAt: d.now,
      gate: { tick: 3, consecutiveFailures: 1 },
    });
    // tick 1 and 2 of this stage were already scheduled once; the scheduler would not run them again.
    expect(effectsOf(effects, 'schedule_gate')).toEqual([
      { type: 'schedule_gate', stageIndex: 0, tick: 3, delayMs: 60_000 },
    ]);
    expect(d.state.pausedFrom).toBeUndefined();
  });

  it('makes the bake count from the resume, not from before the pause', () => {
    const d = rolloutIn('paused', plan());
    d.advance(590_000).accept({ type: 'resume', actor: 'U1' });
    d.advance(60_000).gate('pass');
    expect(d.state.status).toBe('baking');
    d.endBake().gate('pass');
    expect(d.state).toMatchObject({ status: 'progressing', stageIndex: 1 });
  });

  it('records stage_applied while paused and bakes on resume once every cluster applied', () => {
    const d = rolloutIn('paused', plan(), { pausedFrom: 'progressing' });
    d.applyStage('eu', 'us');
    expect(d.state).toMatchObject({
      status: 'paused',
      clusters: { eu: { status: 'applied' }, us: { status: 'applied' } },
    });
    expect(effectsOf(d.effects, 'schedule_gate')).toEqual([]);
    const effects = d.accept({ type: 'resume', actor: 'U1' });
    expect(d.state).toMatchObject({ status: 'baking', bakeStartedAt: d.now, gate: { tick: 1 } });
    expect(effectsOf(effects, 'schedule_gate')).toHaveLength(1);
  });

  it('goes back to waiting for clusters that have not applied yet', () => {
    const d = rolloutIn('paused', plan(), { pausedFrom: 'progressing' });
    d.applyStage('eu');
    d.accept({ type: 'resume', actor: 'U1' });
    expect(d.state.status).toBe('progressing');
    d.applyStage('us');
    expect(d.state.status).toBe('baking');
  });

  it('goes back to awaiting approval, keeping the approvals given', () => {
    const d = rolloutIn('paused', plan(), { stage: 1, pausedFrom: 'awaiting_approval' });
    d.accept({ type: 'resume', actor: 'U1' });
    expect(d.state.status).toBe('awaiting_approval');
    expect(effectsOf(d.effects, 'schedule_gate')).toEqual([]);
  });

  it.each(['progressing', 'baking', 'promoting'] as const)('is refused while %s', (status) => {
    const d = rolloutIn(status, plan());
    const result = d.send({ type: 'resume', actor: 'U1' });
    expect(result).toMatchObject({ ok: false, code: 'invalid_transition' });
    expect(!result.ok && result.reason).toMatch(/^cannot resume: /);
  });
});
