import { describe, expect, it } from 'vitest';
import { aPlan } from '../../test/support/plan-builders.js';
import {
  commandsIn,
  effectsOf,
  rolloutIn,
  type RolloutDriver,
} from '../../test/support/rollout-driver.js';
import type { RolloutInput } from './state.js';

const plan = () =>
  aPlan().withStages(5, 25, 100).withClusters('eu', 'us').withApproval({}, { atStage: 1 }).build();
const COMMAND_ID = '00000000-0000-4000-8000-000000000001';

function failed(
  cluster: string,
  commandType: string,
  reason = 'HTTPRoute eu/checkout: admission webhook denied',
  commandId = COMMAND_ID,
): RolloutInput {
  return { type: 'command_failed', cluster, commandId, commandType, reason };
}

function weights(d: RolloutDriver): number[] {
  return Object.values(d.state.clusters).map((c) => c.weight);
}

describe('abort', () => {
  it('ends a pending rollout at once: nothing was sent, so nothing rolls back', () => {
    const d = rolloutIn('pending', plan());
    const effects = d.accept({ type: 'abort', actor: 'U1', reason: 'wrong version' });
    expect(d.state).toMatchObject({ status: 'aborted', outcome: 'aborted by U1: wrong version' });
    expect(effects).toEqual([
      { type: 'release_lock', service: 'checkout' },
      { type: 'update_card' },
    ]);
  });

  it.each([
    ['progressing', 0],
    ['baking', 0],
    ['awaiting_approval', 1],
    ['paused', 0],
    ['promoting', 0],
  ] as const)('rolls back every cluster from %s and ends aborted', (status, stage) => {
    const d = rolloutIn(status, plan(), { stage });
    const effects = d.accept({ type: 'abort', actor: 'U1', reason: 'customer complaints' });
    expect(d.state).toMatchObject({
      status: 'rolling_back',
      outcome: 'aborted by U1: customer complaints',
      rollback: { cause: 'aborted', actor: 'U1' },
    });
    // The rollback commands come first; cancelling the gate is housekeeping after them.
    expect(effects.slice(0, 3).map((e) => e.type)).toEqual([
      'publish_command',
      'publish_command',
      'cancel_gates',
    ]);
    expect(commandsIn(effects)).toEqual(['eu:rollback', 'us:rollback']);
    const [rollback] = effectsOf(effects, 'publish_command');
    expect(rollback!.command.payload).toEqual({
      service: 'checkout',
      reason: 'aborted by U1: customer complaints',
    });

    d.accept({ type: 'rolled_back', cluster: 'eu' });
    expect(d.state.status).toBe('rolling_back');
    const last = d.accept({ type: 'rolled_back', cluster: 'us' });
    expect(d.state.status).toBe('aborted');
    expect(weights(d)).toEqual([0, 0]);
    expect(last).toEqual([{ type: 'release_lock', service: 'checkout' }, { type: 'update_card' }]);
  });

  it('is refused while already rolling back', () => {
    const d = rolloutIn('rolling_back', plan());
    const result = d.send({ type: 'abort', actor: 'U1', reason: 'hurry' });
    expect(result).toMatchObject({ ok: false, code: 'invalid_transition' });
    expect(!result.ok && result.reason).toMatch(
      /cannot abort: .* is already rolling back \(gate breached/,
    );
  });
});

describe('automatic rollback', () => {
  it('ends rolled_back with weight 0 everywhere and tells the channel why', () => {
    const d = rolloutIn('rolling_back', plan(), { stage: 1 });
    d.accept({ type: 'rolled_back', cluster: 'us' });
    expect(d.state.clusters.us).toMatchObject({ status: 'rolled_back', weight: 0 });
    const effects = d.accept({ type: 'rolled_back', cluster: 'eu' });
    expect(d.state.status).toBe('rolled_back');
    expect(weights(d)).toEqual([0, 0]);
    const [alert] = effectsOf(effects, 'notify');
    expect(alert!.kind).toBe('rolled_back');
    expect(alert!.message).toMatch(
      /rolled back to 2.4.0 in eu, us: gate breached at stage 2\/3 \(25%\): error_rate 7.9% > 2.0%/,
    );
    expect(effects.slice(-2)).toEqual([
      { type: 'release_lock', service: 'checkout' },
      { type: 'update_card' },
    ]);
  });

  it.each<[string, RolloutInput, string]>([
    ['a duplicate', { type: 'rolled_back', cluster: 'eu' }, 'stale_event'],
    ['a cluster outside the plan', { type: 'rolled_back', cluster: 'ap' }, 'unknown_cluster'],
    [
      'a late stage_applied',
      { type: 'stage_applied', cluster: 'us', stageIndex: 0, weight: 5 },
      'stale_event',
    ],
  ])('refuses %s', (_, input, code) => {
    const d = rolloutIn('rolling_back', plan());
    d.accept({ type: 'rolled_back', cluster: 'eu' });
    expect(d.send(input)).toMatchObject({ ok: false, code });
  });

  it('refuses rolled_back when no rollback was asked for', () => {
    const d = rolloutIn('baking', plan());
    expect(d.send({ type: 'rolled_back', cluster: 'eu' })).toMatchObject({
      ok: false,
      code: 'invalid_transition',
    });
  });
});

describe('command_failed', () => {
  it.each([
    ['progressing', 0],
    ['baking', 0],
    ['awaiting_approval', 1],
    ['paused', 0],
    ['promoting', 0],
  ] as const)('rolls back everywhere from %s and names the cluster and reason', (status, stage) => {
    const d = rolloutIn(status, plan(), { stage });
    const effects = d.accept(failed('us', 'set_weight'));
    expect(d.state).toMatchObject({
      status: 'rolling_back',
      rollback: { cause: 'command_failed' },
    });
    expect(d.state.clusters.us!.failure).toBe('HTTPRoute eu/checkout: admission webhook denied');
    expect(commandsIn(effects)).toEqual(['eu:rollback', 'us:rollback']);
    const [alert] = effectsOf(effects, 'notify');
    expect(alert!.kind).toBe('command_failed');
    expect(alert!.message).toMatch(
      /set_weight failed in us: HTTPRoute eu\/checkout: admission webhook denied; rolling back/,
    );
  });

  it('a failed rollback keeps rolling back: the cluster is marked failed, people are alerted, the rollback is sent again after a backoff', () => {
    const d = rolloutIn('rolling_back', plan());
    const outcome = d.state.outcome;
    d.accept({ type: 'rolled_back', cluster: 'eu' });
    const seq = d.state.seq;
    const effects = d.accept(failed('us', 'rollback', 'gateway API unreachable'));
    expect(d.state.status).toBe('rolling_back');
    expect(d.state.outcome).toBe(outcome);
    expect(d.state.clusters.us).toMatchObject({
      status: 'failed',
      failure: 'gateway API unreachable',
      rollbackAttempts: 1,
    });
    const alerts = effectsOf(effects, 'notify');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.kind).toBe('rollback_failed');
    expect(alerts[0]!.message).toMatch(
      /rollback failed in us: gateway API unreachable \(1 failed attempt\(s\) in us\)\. Traffic in us may still reach 2\.4\.1; a person must look/,
    );
    expect(alerts[0]!.message).toMatch(/next in 5s.*\/rollout force-finish r-1 <reason>/);
    // Not at once: a timer (the gate scheduler's next tick) sends it again.
    expect(effectsOf(effects, 'publish_command')).toEqual([]);
    const [timer] = effectsOf(effects, 'schedule_gate');
    expect(timer).toMatchObject({ delayMs: 5_000, tick: d.state.gate.tick });

    const retried = d.accept({ type: 'rollback_retry', tick: timer!.tick });
    expect(effectsOf(retried, 'publish_command')).toEqual([
      {
        type: 'publish_command',
        cluster: 'us',
        seq: seq + 1,
        command: { type: 'rollback', payload: { service: 'checkout', reason: outcome } },
      },
    ]);
    expect(d.state.clusters.us!.status).toBe('rolling_back');
    expect(effectsOf(retried, 'release_lock')).toEqual([]);
    // The same timer again is stale.
    expect(d.send({ type: 'rollback_retry', tick: timer!.tick })).toMatchObject({
      ok: false,
      code: 'stale_event',
    });
  });

  it('backs off, doubling up to 5 minutes, re-pages on-call on the 1st, 2nd, 4th, 8th… failure, and ends only when that cluster confirms weight 0', () => {
    const d = rolloutIn('rolling_back', plan(), { stage: 1 });
    d.accept({ type: 'rolled_back', cluster: 'eu' });
    const delays: number[] = [];
    const paged: number[] = [];
    for (let attempt = 1; attempt <= 9; attempt++) {
      const effects = d.accept(
        failed('us', 'rollback', 'HTTPRoute shop/checkout: 403 forbidden', `cmd-${attempt}`),
      );
      if (effectsOf(effects, 'notify').length > 0) paged.push(attempt);
      const [timer] = effectsOf(effects, 'schedule_gate');
      delays.push(timer!.delayMs);
      expect(commandsIn(d.accept({ type: 'rollback_retry', tick: timer!.tick }))).toEqual([
        'us:rollback',
      ]);
    }
    expect(paged).toEqual([1, 2, 4, 8]);
    expect(delays).toEqual([
      5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000,
    ]);
    expect(d.history.filter((e) => e.type === 'release_lock')).toEqual([]);

    const last = d.accept({ type: 'rolled_back', cluster: 'us' });
    expect(d.state.status).toBe('rolled_back');
    expect(weights(d)).toEqual([0, 0]);
    expect(effectsOf(last, 'notify')[0]!.kind).toBe('rolled_back');
    expect(d.history.filter((e) => e.type === 'release_lock')).toEqual([
      { type: 'release_lock', service: 'checkout' },
    ]);
  });

  it('keeps one retry timer, moved only sooner: a first failure elsewhere is not held up by a long backoff', () => {
    const d = rolloutIn('rolling_back', plan());
    for (let i = 1; i <= 5; i++) {
      const effects = d.accept(failed('eu', 'rollback', 'eu down', `eu-${i}`));
      const [timer] = effectsOf(effects, 'schedule_gate');
      d.accept({ type: 'rollback_retry', tick: timer!.tick });
    }
    // eu's 6th failure: a retry 160 s away.
    const long = effectsOf(d.accept(failed('eu', 'rollback', 'eu down', 'eu-6')), 'schedule_gate');
    expect(long[0]!.delayMs).toBe(160_000);
    // us fails for the first time: its 5 s timer replaces the later one.
    const short = effectsOf(d.accept(failed('us', 'rollback', 'us down', 'us-1')), 'schedule_gate');
    expect(short).toMatchObject([{ delayMs: 5_000 }]);
    expect(commandsIn(d.accept({ type: 'rollback_retry', tick: short[0]!.tick }))).toEqual([
      'eu:rollback',
      'us:rollback',
    ]);
  });

  it('force-finish releases a rollback that cannot finish: failed, the clusters left named, the lock released, on-call told', () => {
    const d = rolloutIn('rolling_back', plan());
    d.accept({ type: 'rolled_back', cluster: 'eu' });
    d.accept(failed('us', 'rollback', 'cluster us is gone'));
    const effects = d.accept({
      type: 'force_finish',
      actor: 'U-lead',
      reason: 'us-east decommissioned',
    });
    expect(d.state.status).toBe('failed');
    expect(d.state.outcome).toBe(
      'force-finished by U-lead: us-east decommissioned; not confirmed back on 2.4.0: us',
    );
    expect(effectsOf(effects, 'release_lock')).toEqual([
      { type: 'release_lock', service: 'checkout' },
    ]);
    expect(effectsOf(effects, 'notify')[0]!.message).toMatch(
      /us may still serve 2\.4\.1: restore 2\.4\.0 there by hand/,
    );
  });

  it('force-finish is refused outside a rollback, pointing at abort', () => {
    const d = rolloutIn('baking', plan());
    const result = d.send({ type: 'force_finish', actor: 'U-lead', reason: 'x' });
    expect(result).toMatchObject({ ok: false, code: 'invalid_transition' });
    expect(!result.ok && result.reason).toMatch(
      /only for a rollback that cannot finish.*Abort it instead/,
    );
  });

  it('alerts separately for each cluster whose rollback fails', () => {
    const d = rolloutIn('rolling_back', plan());
    const eu = d.accept(failed('eu', 'rollback', 'eu API down'));
    const us = d.accept(failed('us', 'rollback', 'us API down', 'cmd-us'));
    expect(effectsOf(eu, 'notify').map((a) => a.message)).toEqual([
      expect.stringContaining('rollback failed in eu: eu API down'),
    ]);
    expect(effectsOf(us, 'notify').map((a) => a.message)).toEqual([
      expect.stringContaining('rollback failed in us: us API down'),
    ]);
  });

  it('counts a redelivered rollback failure once: no second resend for the same command', () => {
    const d = rolloutIn('rolling_back', plan());
    d.accept(failed('us', 'rollback', 'gateway API unreachable'));
    expect(d.send(failed('us', 'rollback', 'gateway API unreachable'))).toMatchObject({
      ok: false,
      code: 'stale_event',
    });
  });

  it('says what is wrong while a rollback keeps failing, and refuses an abort', () => {
    const d = rolloutIn('rolling_back', plan());
    d.accept(failed('us', 'rollback', 'gateway API unreachable'));
    const result = d.send({ type: 'pause', actor: 'U1' });
    expect(!result.ok && result.reason).toMatch(
      /waiting for rolled_back from eu, us; the rollback keeps failing in us \(gateway API unreachable\) and is retried: a person must fix that/,
    );
    expect(d.send({ type: 'abort', actor: 'U1', reason: 'x' })).toMatchObject({
      ok: false,
      code: 'invalid_transition',
    });
  });

  it('an abort while promoting rolls back the clusters already promoted too, and ends with weight 0 everywhere', () => {
    const d = rolloutIn('promoting', plan());
    d.accept({ type: 'promoted', cluster: 'eu' });
    expect(weights(d)).toEqual([100, 100]);
    const effects = d.accept({ type: 'abort', actor: 'U1', reason: 'checkout errors in eu' });
    expect(commandsIn(effects)).toEqual(['eu:rollback', 'us:rollback']);
    d.rollBackEverywhere();
    expect(d.state.status).toBe('aborted');
    expect(weights(d)).toEqual([0, 0]);
  });

  it('ignores a failure of an older command during the rollback as stale', () => {
    const d = rolloutIn('rolling_back', plan());
    expect(d.send(failed('us', 'set_weight'))).toMatchObject({ ok: false, code: 'stale_event' });
  });

  it('ignores a rollback failure from a cluster that already rolled back', () => {
    const d = rolloutIn('rolling_back', plan());
    d.accept({ type: 'rolled_back', cluster: 'us' });
    expect(d.send(failed('us', 'rollback'))).toMatchObject({ ok: false, code: 'stale_event' });
  });

  it('is refused before anything was sent', () => {
    const d = rolloutIn('pending', plan());
    expect(d.send(failed('eu', 'start'))).toMatchObject({ ok: false, code: 'invalid_transition' });
  });

  it('refuses a cluster outside the plan', () => {
    const d = rolloutIn('baking', plan());
    expect(d.send(failed('ap', 'set_weight'))).toMatchObject({
      ok: false,
      code: 'unknown_cluster',
    });
  });
});
