import { describe, expect, it } from 'vitest';
import { aReleasePolicy } from '../../test/support/release-builders.js';
import type { ReleasePolicy } from '../config/release-policy.js';
import { planRelease } from './plan.js';
import type { ReleaseEffect, ReleaseInput, ReleaseState } from './state.js';
import { createRelease, releaseTransition } from './transition.js';

/** checkout depends on payments; search is independent. */
function aRelease(release: Partial<ReleasePolicy> = {}): ReleaseState {
  const policy = aReleasePolicy(
    { payments: [], checkout: ['payments'], search: [] },
    { release: { maxParallel: 2, ...release } },
  );
  const plan = planRelease(policy, [
    { service: 'checkout', version: '3.1.0' },
    { service: 'payments', version: '2.0.0' },
    { service: 'search', version: '1.2.0' },
  ]);
  return createRelease('rel-7', plan, 'U1', 0, 'ship the new API');
}

/** Applies inputs in order, collecting the effects; fails the test on a refusal. */
function drive(state: ReleaseState, ...inputs: ReleaseInput[]) {
  const effects: ReleaseEffect[] = [];
  let now = state.updatedAt;
  for (const input of inputs) {
    const result = releaseTransition(state, input, (now += 1000));
    if (!result.ok) throw new Error(result.reason);
    state = result.state;
    effects.push(...result.effects);
  }
  return { state, effects };
}

const of = <T extends ReleaseEffect['type']>(effects: ReleaseEffect[], type: T) =>
  effects
    .filter((e): e is Extract<ReleaseEffect, { type: T }> => e.type === type)
    .map((e) => ('service' in e ? e.service : e.type));

const held = (service: string): ReleaseInput => ({ type: 'member_held', service });
const ended = (
  service: string,
  status: 'succeeded' | 'rolled_back' | 'aborted' = 'succeeded',
): ReleaseInput => ({ type: 'member_ended', service, status });

describe('releaseTransition', () => {
  it('starts providers and independent members first, the consumer once its provider holds, and promotes providers before consumers', () => {
    const started = drive(aRelease(), { type: 'start', actor: 'U1' });
    expect(of(started.effects, 'start_member')).toEqual(['payments', 'search']);
    expect(started.effects).toContainEqual({
      type: 'start_member',
      service: 'payments',
      rolloutId: 'rel-7-payments',
      version: '2.0.0',
    });
    const paymentsHolds = drive(started.state, held('payments'));
    expect(of(paymentsHolds.effects, 'start_member')).toEqual(['checkout']);
    expect(of(paymentsHolds.effects, 'promote_member')).toEqual([]);
    const allHold = drive(paymentsHolds.state, held('search'), held('checkout'));
    expect(allHold.state.status).toBe('promoting');
    expect(of(allHold.effects, 'promote_member')).toEqual(['payments', 'search']);
    const paymentsDone = drive(allHold.state, ended('payments'));
    expect(of(paymentsDone.effects, 'promote_member')).toEqual(['checkout']);
    const done = drive(paymentsDone.state, ended('search'), ended('checkout'));
    expect(done.state.status).toBe('succeeded');
    expect(of(done.effects, 'page')).toEqual([]);
    expect(done.effects.at(-1)).toEqual({ type: 'release_card' });
  });

  it('queues members beyond maxParallel instead of refusing them', () => {
    const { state, effects } = drive(aRelease({ maxParallel: 1 }), { type: 'start', actor: 'U1' });
    expect(of(effects, 'start_member')).toEqual(['payments']);
    expect(of(drive(state, held('payments')).effects, 'start_member')).toEqual(['search']);
  });

  it('starts a consumer at consumerStartsAt once the provider passed that stage', () => {
    const started = drive(aRelease({ consumerStartsAt: 50, maxParallel: 3 }), {
      type: 'start',
      actor: 'U1',
    });
    const at25 = drive(started.state, {
      type: 'member_progress',
      service: 'payments',
      passedWeight: 25,
    });
    expect(of(at25.effects, 'start_member')).toEqual([]);
    const at50 = drive(at25.state, {
      type: 'member_progress',
      service: 'payments',
      passedWeight: 50,
    });
    expect(of(at50.effects, 'start_member')).toEqual(['checkout']);
  });

  it('rolls back consumers before their providers under rollback-all, search too', () => {
    const running = drive(aRelease(), { type: 'start', actor: 'U1' }, held('payments')).state;
    const failed = drive(running, {
      type: 'member_ended',
      service: 'checkout',
      status: 'rolled_back',
      outcome: 'error rate 9% > 1%',
    });
    expect(failed.state.status).toBe('rolling_back');
    expect(failed.state.failure).toMatchObject({ service: 'checkout', cause: 'member_failed' });
    // checkout is already at 0, so payments goes back now; search (no consumers) too.
    expect(of(failed.effects, 'rollback_member')).toEqual(['search', 'payments']);
    const done = drive(failed.state, ended('payments', 'aborted'), ended('search', 'aborted'));
    expect(done.state.status).toBe('rolled_back');
    expect(done.effects).toContainEqual(
      expect.objectContaining({ type: 'page', services: ['payments', 'search', 'checkout'] }),
    );
  });

  it('waits for a consumer to confirm weight 0 before telling its provider to roll back', () => {
    const running = drive(aRelease(), { type: 'start', actor: 'U1' }, held('payments')).state;
    const aborted = drive(running, { type: 'abort', actor: 'U2', reason: 'wrong build' });
    expect(aborted.state.status).toBe('rolling_back');
    expect(of(aborted.effects, 'rollback_member')).toEqual(['checkout', 'search']);
    const checkoutBack = drive(aborted.state, ended('checkout', 'aborted'));
    expect(of(checkoutBack.effects, 'rollback_member')).toEqual(['payments']);
    const done = drive(
      checkoutBack.state,
      ended('payments', 'aborted'),
      ended('search', 'aborted'),
    );
    expect(done.state.status).toBe('aborted');
  });

  it('keeps members the failure does not touch under rollback-dependents and promotes them', () => {
    const running = drive(
      aRelease({ onFailure: 'rollback-dependents' }),
      { type: 'start', actor: 'U1' },
      held('payments'),
    ).state;
    const failed = drive(running, ended('checkout', 'rolled_back'));
    expect(failed.state.failure?.affected).toEqual(['payments', 'checkout']);
    expect(of(failed.effects, 'rollback_member')).toEqual(['payments']);
    const searchHolds = drive(failed.state, held('search'));
    expect(of(searchHolds.effects, 'promote_member')).toEqual(['search']);
    const done = drive(searchHolds.state, ended('search'), ended('payments', 'aborted'));
    expect(done.state.status).toBe('rolled_back');
    expect(done.state.members.search!.state).toBe('succeeded');
    expect(done.state.members.payments!.state).toBe('rolled_back');
  });

  it('cancels members not started and frees their locks; nothing starts after a failure', () => {
    const running = drive(aRelease({ maxParallel: 1 }), { type: 'start', actor: 'U1' }).state;
    const failed = drive(running, ended('payments', 'rolled_back'));
    expect(of(failed.effects, 'release_member_lock')).toEqual(['search', 'checkout']);
    expect(of(failed.effects, 'start_member')).toEqual([]);
    expect(failed.state.status).toBe('rolled_back');
  });

  it('a contract check that says no refuses the member before it moves and the release goes back', () => {
    const running = drive(aRelease(), { type: 'start', actor: 'U1' }, held('payments')).state;
    const refused = drive(running, {
      type: 'contract_verdict',
      service: 'checkout',
      ok: false,
      detail: 'can-i-deploy: no verified pact between checkout 3.1.0 and payments 2.0.0',
    });
    expect(refused.state.members.checkout!.state).toBe('cancelled');
    expect(refused.state.failure?.cause).toBe('contract_refused');
    expect(of(refused.effects, 'rollback_member')).toEqual(['search', 'payments']);
  });

  it('pauses and resumes every running member; nothing starts while paused', () => {
    const running = drive(aRelease(), { type: 'start', actor: 'U1' }).state;
    const paused = drive(running, { type: 'pause', actor: 'U2' }, held('payments'));
    expect(of(paused.effects, 'pause_member')).toEqual(['payments', 'search']);
    expect(of(paused.effects, 'start_member')).toEqual([]);
    const resumed = drive(paused.state, { type: 'resume', actor: 'U2' });
    expect(of(resumed.effects, 'resume_member')).toEqual(['search']);
    expect(of(resumed.effects, 'start_member')).toEqual(['checkout']);
  });

  it('refuses bad input with a reason: unknown member, a report twice, anything after the end', () => {
    const running = drive(aRelease(), { type: 'start', actor: 'U1' }, held('payments')).state;
    expect(releaseTransition(running, held('cart'), 1)).toMatchObject({
      ok: false,
      code: 'unknown_member',
    });
    expect(releaseTransition(running, held('payments'), 1)).toMatchObject({
      ok: false,
      code: 'invalid_transition',
    });
    expect(releaseTransition(running, { type: 'resume', actor: 'U2' }, 1)).toMatchObject({
      ok: false,
    });
    const over = drive(running, { type: 'abort', actor: 'U2', reason: '' }).state;
    const ended2 = drive(
      over,
      ended('search', 'aborted'),
      ended('checkout', 'aborted'),
      ended('payments', 'aborted'),
    ).state;
    expect(ended2.status).toBe('aborted');
    expect(releaseTransition(ended2, { type: 'pause', actor: 'U2' }, 1)).toMatchObject({
      ok: false,
      code: 'terminal',
    });
  });

  it('resumes the members a failure spares when the release was paused, so they can finish', () => {
    const paused = drive(
      aRelease({ onFailure: 'rollback-dependents' }),
      { type: 'start', actor: 'U1' },
      { type: 'pause', actor: 'U2' },
    ).state;
    const failed = drive(paused, ended('payments', 'rolled_back'));
    expect(failed.state.status).toBe('rolling_back');
    expect(of(failed.effects, 'resume_member')).toEqual(['search']);
  });

  it('goes back when a member fails while it holds: its consumer first, the provider already at 0', () => {
    // payments holds at 100% (its gate still watching it), checkout calls it, search holds too.
    const holding = drive(
      aRelease(),
      { type: 'start', actor: 'U1' },
      held('payments'),
      { type: 'member_started', service: 'checkout' },
      held('search'),
    ).state;
    expect(holding.members.payments?.state).toBe('held');
    // Its gate breached while it held: its rollout rolled back on its own and reports the end.
    const breached = drive(holding, {
      type: 'member_ended',
      service: 'payments',
      status: 'rolled_back',
      outcome: 'gate breached at 100%: error_rate 9% > 5%',
    });
    expect(breached.state.status).toBe('rolling_back');
    expect(breached.state.failure).toMatchObject({
      service: 'payments',
      cause: 'member_failed',
      detail: 'payments rolled back: gate breached at 100%: error_rate 9% > 5%',
      affected: ['payments', 'search', 'checkout'],
    });
    expect(breached.state.members.payments?.state).toBe('rolled_back');
    // The consumer and the independent member are told to go back; nothing is promoted.
    expect(of(breached.effects, 'rollback_member')).toEqual(['checkout', 'search']);
    expect(of(breached.effects, 'promote_member')).toEqual([]);
    const done = drive(breached.state, ended('checkout', 'aborted'), ended('search', 'aborted'));
    expect(done.state.status).toBe('rolled_back');
    expect(done.effects).toContainEqual(
      expect.objectContaining({ type: 'page', services: ['payments', 'search', 'checkout'] }),
    );
  });

  it('asks a provider contract checks again when it holds before widening; a no sends the release back', () => {
    const running = drive(
      aRelease(),
      { type: 'start', actor: 'U1' },
      { type: 'member_started', service: 'payments' },
      { type: 'member_started', service: 'search' },
    ).state;
    const awaiting = drive(running, { type: 'member_awaiting_widening', service: 'payments' });
    expect(awaiting.effects).toContainEqual({
      type: 'check_widening',
      service: 'payments',
      rolloutId: 'rel-7-payments',
    });
    expect(awaiting.state.members.payments?.state).toBe('running');
    // A yes lets the member widen.
    const yes = drive(awaiting.state, {
      type: 'contract_verdict',
      service: 'payments',
      ok: true,
      detail: 'can-i-deploy says yes to 1 check(s)',
    });
    expect(yes.state.status).toBe('running');
    expect(of(yes.effects, 'widen_member')).toEqual(['payments']);
    expect(of(yes.effects, 'rollback_member')).toEqual([]);
    // The same yes again (a replayed check) is refused: it widened already.
    expect(
      releaseTransition(
        yes.state,
        { type: 'contract_verdict', service: 'payments', ok: true, detail: 'again' },
        1,
      ),
    ).toMatchObject({ ok: false, code: 'invalid_transition' });
    // A no: payments (at its first stage) and search go back, checkout never starts.
    const no = drive(awaiting.state, {
      type: 'contract_verdict',
      service: 'payments',
      ok: false,
      detail: 'can-i-deploy says no: payments@2.0.0 → production: the pact with checkout failed',
    });
    expect(no.state.status).toBe('rolling_back');
    expect(no.state.failure).toMatchObject({
      service: 'payments',
      cause: 'contract_refused',
      detail: expect.stringContaining('the pact with checkout failed'),
    });
    expect(of(no.effects, 'rollback_member')).toEqual(['search', 'payments']);
    expect(no.state.members.checkout?.state).toBe('cancelled');
    // Reports out of turn are refused: widening of a member not running.
    expect(
      releaseTransition(no.state, { type: 'member_awaiting_widening', service: 'checkout' }, 1),
    ).toMatchObject({ ok: false, code: 'invalid_transition' });
  });

  it('does not widen a member whose checks say yes while the release is paused; the resume asks again', () => {
    const awaiting = drive(
      aRelease(),
      { type: 'start', actor: 'U1' },
      { type: 'member_started', service: 'payments' },
      { type: 'member_awaiting_widening', service: 'payments' },
      { type: 'pause', actor: 'U2' },
    ).state;
    const yes = drive(awaiting, {
      type: 'contract_verdict',
      service: 'payments',
      ok: true,
      detail: 'can-i-deploy says yes to 1 check(s)',
    });
    expect(yes.state.status).toBe('paused');
    expect(of(yes.effects, 'widen_member')).toEqual([]);
    expect(yes.state.members.payments?.awaitingWidening).toBe(true);
    const resumed = drive(yes.state, { type: 'resume', actor: 'U2' });
    expect(of(resumed.effects, 'check_widening')).toEqual(['payments']);
    const widened = drive(resumed.state, {
      type: 'contract_verdict',
      service: 'payments',
      ok: true,
      detail: 'can-i-deploy says yes to 1 check(s)',
    });
    expect(of(widened.effects, 'widen_member')).toEqual(['payments']);
    expect(widened.state.members.payments?.awaitingWidening).toBeUndefined();
  });

  it('spares what a held member failure does not touch under rollback-dependents, and promotes it', () => {
    const holding = drive(
      aRelease({ onFailure: 'rollback-dependents' }),
      { type: 'start', actor: 'U1' },
      held('payments'),
      held('search'),
    ).state;
    const breached = drive(holding, ended('payments', 'rolled_back'));
    // checkout had been started when payments held: it goes back; search is spared and promoted.
    expect(breached.state.failure?.affected).toEqual(['payments', 'checkout']);
    expect(of(breached.effects, 'rollback_member')).toEqual(['checkout']);
    expect(of(breached.effects, 'promote_member')).toEqual(['search']);
  });
});

describe('releaseTransition: the failure budget (release.errorBudget)', () => {
  /** One window of `service` in eu-west: `canaryErrors` of 1,000 canary requests, stable at 1%. */
  const window = (service: string, n: number, canaryErrors: number) => ({
    service,
    cluster: 'eu-west',
    fromMs: n * 1000,
    toMs: (n + 1) * 1000,
    canary: { requests: 1000, errors: canaryErrors },
    stable: { requests: 10_000, errors: 100 },
  });
  const running = () =>
    drive(
      aRelease({ errorBudget: 30 }),
      { type: 'start', actor: 'U1' },
      { type: 'member_started', service: 'payments' },
      { type: 'member_started', service: 'search' },
    ).state;

  it('is kept with the release from its start, and counts each member window once', () => {
    const state = running();
    expect(state.errorBudget).toEqual({ budget: 30, tallies: {} });
    const after = drive(state, { type: 'budget_samples', samples: [window('payments', 0, 16)] });
    expect(after.state.errorBudget?.tallies.payments?.['eu-west']?.canaryErrors).toBe(16);
    expect(after.effects.at(-1)).toEqual({ type: 'release_card' });
    // The same window again (a redelivered batch): refused, nothing stored twice.
    const again = releaseTransition(
      after.state,
      { type: 'budget_samples', samples: [window('payments', 0, 16)] },
      5000,
    );
    expect(again).toMatchObject({ ok: false, code: 'invalid_transition' });
  });

  it('rolls every member back once the members together spend it, though each spent less', () => {
    // 6 extra errors per window each (16 against the 10 predicted): 12 for payments, 12 for search,
    // then 6 more for payments: 30 of 30.
    const { state, effects } = drive(
      running(),
      { type: 'budget_samples', samples: [window('payments', 0, 16), window('search', 0, 16)] },
      { type: 'budget_samples', samples: [window('payments', 1, 16), window('search', 1, 16)] },
    );
    expect(state.status).toBe('running');
    const spent = drive(state, {
      type: 'budget_samples',
      samples: [window('payments', 2, 16)],
    });
    expect(spent.state.status).toBe('rolling_back');
    expect(spent.state.failure).toMatchObject({
      cause: 'budget_exhausted',
      affected: ['payments', 'search', 'checkout'].filter((s) => s in spent.state.members),
    });
    expect(spent.state.failure?.detail).toBe(
      'error budget spent: 30 extra errors of 30 (release.errorBudget) across the canaries (payments 18, search 12)',
    );
    expect(of(spent.effects, 'rollback_member').sort()).toEqual(['payments', 'search']);
    expect(effects.filter((e) => e.type === 'rollback_member')).toEqual([]);
  });

  it('refuses samples for a release without a budget, a non-member and bad counts', () => {
    const plain = drive(aRelease(), { type: 'start', actor: 'U1' }).state;
    expect(
      releaseTransition(plain, { type: 'budget_samples', samples: [window('payments', 0, 1)] }, 9),
    ).toMatchObject({ ok: false, reason: expect.stringContaining('no error budget') });
    const state = running();
    for (const bad of [
      window('billing', 0, 16),
      { ...window('payments', 0, 16), canary: { requests: 10, errors: 11 } },
      { ...window('payments', 0, 16), fromMs: 5000, toMs: 4000 },
      { ...window('payments', 0, 16), stable: { requests: -1, errors: 0 } },
    ]) {
      expect(
        releaseTransition(state, { type: 'budget_samples', samples: [bad] }, 9),
        JSON.stringify(bad),
      ).toMatchObject({ ok: false, reason: expect.stringContaining('no new window') });
    }
  });
});
