import { describe, expect, it } from 'vitest';
import { aGate, aPlan } from '../../test/support/plan-builders.js';
import {
  commandsIn,
  effectsOf,
  healthCounts,
  rolloutIn,
} from '../../test/support/rollout-driver.js';

const plan = (gate = aGate().withSequential({ metric: 'error_rate' })) =>
  aPlan().withStages(5, 50, 100).withClusters('eu', 'us').withBake(300_000).withGate(gate).build();

describe('the sequential judge in the state machine', () => {
  it('folds counts into evidence stored with the rollout, without deciding on too little', () => {
    const d = rolloutIn('baking', plan());
    d.accept(healthCounts('eu', 5_000, 3));
    expect(d.state.status).toBe('baking');
    expect(d.state.judge?.checks.errors).toMatchObject({ canaryEvents: 3, stableEvents: 24 });
    expect(d.state.judge?.countedUntil).toEqual({ eu: 5_000 });
    expect(d.effects).toEqual([{ type: 'update_card' }]);
  });

  it('rolls back the moment the evidence crosses 1/α, saying the numbers and α', () => {
    const d = rolloutIn('baking', plan());
    d.accept(healthCounts('eu', 5_000, 7));
    expect(d.state.status).toBe('baking');
    // ×5 errors at 5%: a second interval (another cluster's) is enough.
    const effects = d.accept(healthCounts('us', 5_000, 7));
    expect(d.state).toMatchObject({ status: 'rolling_back', rollback: { cause: 'gate_breached' } });
    expect(commandsIn(effects)).toEqual(['eu:rollback', 'us:rollback']);
    const [alert] = effectsOf(effects, 'notify');
    expect(alert!.kind).toBe('gate_breached');
    expect(alert!.message).toMatch(
      /sequential check breached at stage 1.*errors 14 in 500 canary requests vs 3\.\d expected from stable.*≥ 1\/α = 100 \(α 0\.01, tolerance 1\.2× stable\)/,
    );
  });

  it('refuses an interval that overlaps one already counted for the cluster', () => {
    const d = rolloutIn('baking', plan());
    d.accept(healthCounts('eu', 10_000, 1));
    const again = d.send(healthCounts('eu', 12_000, 1));
    expect(again).toMatchObject({ ok: false, code: 'stale_event' });
    expect(d.send(healthCounts('us', 12_000, 1)).ok).toBe(true);
  });

  it('refuses counts at a stage without sequential checks, and after the rollout ended', () => {
    expect(rolloutIn('baking', plan(aGate())).send(healthCounts('eu', 5_000, 1))).toMatchObject({
      ok: false,
      code: 'stale_event',
    });
    expect(rolloutIn('rolled_back', plan()).send(healthCounts('eu', 5_000, 1)).ok).toBe(false);
  });

  it('keeps folding while paused but does not roll back until resumed', () => {
    const d = rolloutIn('paused', plan());
    for (let i = 1; i <= 4; i++) d.accept(healthCounts('eu', i * 5_000, 7));
    expect(d.state.status).toBe('paused');
    expect(d.state.judge?.checks.errors?.canaryEvents).toBe(28);
  });

  it('counts slow requests for a latency check from the bucket of its bound', () => {
    const d = rolloutIn(
      'baking',
      plan(aGate().withSequential({ metric: 'latency_p99', latencyBoundMs: 300 })),
    );
    d.accept(healthCounts('eu', 5_000, 2));
    expect(d.state.judge?.checks['slow>300ms']).toMatchObject({ canaryEvents: 2 });
  });

  it('ends the stage early on evidence that the canary is no worse, never before the minimum bake', () => {
    const gate = aGate().withSequential({
      metric: 'error_rate',
      promoteEarly: { alpha: 0.05, minBakeMs: 120_000 },
    });
    const d = rolloutIn('baking', plan(gate));
    let t = 0;
    // A canary with far fewer errors than stable: promotion evidence builds up quickly.
    for (let i = 0; i < 12; i++) {
      d.advance(5_000);
      d.accept(healthCounts('eu', (t += 5_000), 0, 40));
    }
    expect(d.state.status).toBe('baking'); // 60 s < the 120 s minimum
    for (let i = 0; i < 12; i++) {
      d.advance(5_000);
      d.accept(healthCounts('eu', (t += 5_000), 0, 40));
    }
    // Past the minimum, with the evidence: still baking until the stage's own gate has passed
    // (its threshold and webhook checks, every cluster heard from).
    expect(d.state.status).toBe('baking');
    d.gate('pass');
    expect(d.state.status).toBe('baking'); // the bake itself is not over
    d.advance(5_000);
    d.accept(healthCounts('eu', (t += 5_000), 0, 40));
    expect(d.state.status).toBe('progressing');
    expect(d.state.stageIndex).toBe(1);
    expect(commandsIn(d.effects)).toEqual(['eu:set_weight 50', 'us:set_weight 50']);
  });

  it('keeps two checks of the same events with different tolerances apart, and refuses an interval that ends in the future', () => {
    const gate = aGate().withSequential(
      { metric: 'error_rate', maxRatio: 1.2 },
      { metric: 'error_rate', maxRatio: 2 },
    );
    const d = rolloutIn('baking', plan(gate));
    let t = 0;
    for (let i = 0; i < 40 && d.state.status === 'baking'; i++) {
      d.advance(5_000);
      d.accept(healthCounts('eu', (t += 5_000), 12, 40));
    }
    expect(Object.keys(d.state.judge!.checks).sort()).toEqual(['errors', 'errors@2']);
    expect(d.state.status).toBe('rolling_back');

    const e = rolloutIn('baking', plan(aGate().withSequential({ metric: 'error_rate' })));
    const future = e.send(healthCounts('eu', e.now + 3_600_000, 0, 40));
    expect(future).toMatchObject({ ok: false, code: 'stale_event' });
  });
});
