import { describe, expect, it } from 'vitest';
import { aPlan } from '../../test/support/plan-builders.js';
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
