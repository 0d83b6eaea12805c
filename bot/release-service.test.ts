import { describe, expect, it } from 'vitest';
import type { Policy } from '../shared/config/policy.js';
import { parsePolicy } from '../shared/config/policy-loader.js';
import { silentLogger } from '../shared/log.js';
import { memberRolloutId } from '../shared/release/state.js';
import { STARTER } from '../test/support/e2e-policy.js';
import { releasePolicyYaml } from '../test/e2e/release-scenarios.js';
import { LOCAL_MODE_VERDICT, MemoryContractChecks } from './adapters/memory-contract-checks.js';
import { MemoryOnceClaims } from './adapters/memory-once-claims.js';
import { MemoryReleaseStore } from './adapters/memory-release-store.js';
import { MemoryRolloutStore } from './adapters/memory-rollout-store.js';
import { MemoryServiceLocks } from './adapters/memory-service-locks.js';
import { RecordingReleaseNotifier } from './adapters/recording-release-notifier.js';
import { ReleaseRunner } from './release-runner.js';
import { ReleaseService } from './release-service.js';
import { RolloutService } from './rollout-service.js';

const defaultPolicy = parsePolicy(releasePolicyYaml(), 'release-policy.yaml');
const actor = { id: `user:${STARTER}`, userId: STARTER };
const MEMBERS = [
  { service: 'payments', version: '2.0.0' },
  { service: 'checkout', version: '3.1.0' },
];

/** The release service and runner on memory adapters; rollout effects are not carried out. */
function setUp({
  policy = defaultPolicy,
  contracts = new MemoryContractChecks(LOCAL_MODE_VERDICT),
}: { policy?: Policy; contracts?: MemoryContractChecks } = {}) {
  let now = Date.parse('2026-12-01T01:00:00Z');
  const clock = { now: () => now };
  const locks = new MemoryServiceLocks(clock);
  const rolloutStore = new MemoryRolloutStore({ now: clock.now });
  const store = new MemoryReleaseStore({ now: clock.now });
  let n = 0;
  const rollouts = new RolloutService({
    store: rolloutStore,
    locks,
    policy: () => policy,
    clock,
    logger: silentLogger,
    onCommitted: () => {},
    newRolloutId: (service) => `${service}-${++n}`,
    reservedByRelease: (id) => releases.reserves(id),
  });
  const releases: ReleaseService = new ReleaseService({
    store,
    rollouts,
    locks,
    contracts,
    policy: () => policy,
    clock,
    logger: silentLogger,
    onCommitted: () => {},
    newReleaseId: () => 'rel-1',
  });
  const notifier = new RecordingReleaseNotifier();
  const runner = new ReleaseRunner({
    store,
    releases,
    rollouts,
    locks,
    notifier,
    contracts,
    policy: () => policy,
    claims: new MemoryOnceClaims(clock),
    clock,
    logger: silentLogger,
  });
  return {
    rollouts,
    releases,
    runner,
    locks,
    store,
    rolloutStore,
    notifier,
    advance: (ms: number) => (now += ms),
  };
}

describe('ReleaseService.start', () => {
  it('takes every member lock under the member rollout id before anything runs', async () => {
    const { releases, locks } = setUp();
    const release = await releases.start(MEMBERS, actor);
    expect(await locks.holder('payments')).toBe(memberRolloutId(release.id, 'payments'));
    expect(await locks.holder('checkout')).toBe(memberRolloutId(release.id, 'checkout'));
  });

  it('refuses a release whose member is busy, naming the rollout, and keeps no lock it took', async () => {
    const { releases, rollouts, locks } = setUp();
    const own = await rollouts.start({ service: 'checkout', version: '3.0.0', startedBy: STARTER });
    await expect(releases.start(MEMBERS, actor)).rejects.toThrow(
      `checkout already has an active rollout, ${own.id}`,
    );
    expect(await locks.holder('payments')).toBeUndefined();
  });

  it('the orphaned-lock sweep leaves the locks of members not started yet alone', async () => {
    const { releases, rollouts, locks, advance } = setUp();
    await releases.start(MEMBERS, actor);
    advance(10 * 60_000);
    expect(await rollouts.releaseOrphanedLocks(60_000)).toEqual([]);
    expect(await locks.holder('checkout')).toBe(memberRolloutId('rel-1', 'checkout'));
  });
});

describe('ReleaseRunner', () => {
  it('starts each member once, even when its start effect is carried out again', async () => {
    const { releases, runner, rolloutStore, store } = setUp();
    await releases.start(MEMBERS, actor);
    const [start] = (await store.pendingEffects()).filter((e) => e.effect.type === 'start_member');
    await runner.drain();
    // A crash before the effect was marked done: the same effect comes back.
    await store.commit({
      state: { ...(await store.get('rel-1'))!, version: (await store.get('rel-1'))!.version + 1 },
      effects: [{ id: 'replayed', effect: start!.effect }],
    });
    await runner.drain();
    expect((await rolloutStore.list({ service: 'payments' })).map((r) => r.id)).toEqual([
      'rel-1-payments',
    ]);
    expect((await rolloutStore.get('rel-1-payments'))?.plan).toMatchObject({
      releaseId: 'rel-1',
      holdBeforePromote: true,
    });
    expect((await store.get('rel-1'))?.members.payments?.state).toBe('running');
  });

  it('an abort cancels members not started, aborts the started ones and frees every lock it can', async () => {
    const { releases, runner, rolloutStore, locks, notifier } = setUp();
    await releases.start(MEMBERS, actor);
    await runner.drain();
    await releases.act('rel-1', { type: 'abort', reason: 'wrong build' }, actor);
    await runner.drain();
    expect((await rolloutStore.get('rel-1-payments'))?.status).toBe('rolling_back');
    // checkout never started: cancelled at once and its lock freed.
    expect(await locks.holder('checkout')).toBeUndefined();
    const state = await releases.get('rel-1');
    expect(state?.members.checkout?.state).toBe('cancelled');
    expect(notifier.lines.map((l) => l.text)).toContain('checkout cancelled: it had not started');
  });

  it('a member whose rollout cannot start is a failed member: the release goes back', async () => {
    const { releases, runner, rollouts, locks } = setUp();
    const release = await releases.start(MEMBERS, actor);
    // The lock lost between the release start and the member's (an operator freed it by hand and
    // someone started payments on their own): the member's start is refused.
    await locks.release('payments', 'rel-1-payments');
    const other = await rollouts.start({
      service: 'payments',
      version: '2.1.0',
      startedBy: STARTER,
    });
    await runner.drain();
    const state = await releases.get(release.id);
    expect(state?.status).toBe('rolled_back');
    expect(state?.members.payments?.outcome).toContain(`its rollout could not start`);
    expect(state?.members.payments?.outcome).toContain(other.id);
    expect(state?.members.checkout?.state).toBe('cancelled');
    // The other rollout keeps its lock.
    expect(await locks.holder('payments')).toBe(other.id);
  });

  it('does not start a member the release already sends back, and frees its lock', async () => {
    const { releases, runner, rolloutStore, locks } = setUp();
    await releases.start(MEMBERS, actor);
    // Aborted before the runner got to payments' start effect.
    await releases.act('rel-1', { type: 'abort', reason: 'too early' }, actor);
    await runner.drain();
    expect(await rolloutStore.get('rel-1-payments')).toBeUndefined();
    expect(await locks.holder('payments')).toBeUndefined();
    expect((await releases.get('rel-1'))?.status).toBe('aborted');
  });
});

/** The release policy with checkout's calls to payments checked against the broker. */
const contractPolicy = parsePolicy(
  releasePolicyYaml().replace(
    '    dependsOn: [payments]\n',
    '    dependsOn: [payments]\n    contracts: [payments]\n',
  ) + 'pact:\n  environment: production\n',
  'release-policy.yaml',
);
const NEW_PAIR = {
  pacticipant: 'checkout',
  version: '3.1.0',
  to: { pacticipant: 'payments', version: '2.0.0' },
};
const UNKNOWN = {
  verdict: 'unknown',
  reason: 'the broker did not answer',
  problem: 'unreachable',
} as const;

describe('contract checks of a release', () => {
  it("refuses the release with the broker's reason before any lock is taken", async () => {
    const contracts = new MemoryContractChecks(LOCAL_MODE_VERDICT).answer(NEW_PAIR, {
      verdict: 'no',
      reason: 'payments 2.0.0 failed the verification of checkout 3.1.0',
    });
    const { releases, locks, store } = setUp({ policy: contractPolicy, contracts });
    await expect(releases.start(MEMBERS, actor)).rejects.toThrow(
      'payments 2.0.0 failed the verification of checkout 3.1.0',
    );
    expect(contracts.asked).toContainEqual(NEW_PAIR);
    expect(await locks.holder('payments')).toBeUndefined();
    expect(await locks.holder('checkout')).toBeUndefined();
    expect(await store.active()).toEqual([]);
  });

  it('holds a release the broker cannot answer: stored, nothing started, paged once; goes on once answered', async () => {
    const contracts = new MemoryContractChecks(UNKNOWN);
    const { releases, runner, rolloutStore, notifier } = setUp({
      policy: contractPolicy,
      contracts,
    });
    const release = await releases.start(MEMBERS, actor);
    await runner.drain();
    await runner.drain();
    expect(await rolloutStore.get('rel-1-payments')).toBeUndefined();
    expect((await releases.get(release.id))?.members.payments?.state).toBe('starting');
    expect(notifier.pages).toHaveLength(1);
    expect(notifier.pages[0]?.message).toContain('could not be answered');
    expect(notifier.pages[0]?.message).toContain('the broker did not answer');
    // The broker answers yes to both questions now.
    contracts
      .answer(NEW_PAIR, { verdict: 'yes', reason: 'verified' })
      .answer(
        { pacticipant: 'payments', version: '2.0.0', to: { environment: 'production' } },
        { verdict: 'yes', reason: 'verified' },
      );
    await runner.drain();
    expect((await rolloutStore.get('rel-1-payments'))?.status).not.toBeUndefined();
    expect((await releases.get(release.id))?.members.payments?.state).toBe('running');
    expect(notifier.pages).toHaveLength(1);
  });

  it('a held release the broker later answers "no" starts nothing and goes back', async () => {
    const contracts = new MemoryContractChecks(UNKNOWN);
    const { releases, runner, rolloutStore, locks } = setUp({ policy: contractPolicy, contracts });
    const release = await releases.start(MEMBERS, actor);
    await runner.drain();
    contracts.answer(NEW_PAIR, { verdict: 'no', reason: 'checkout 3.1.0 pact failed' });
    await runner.drain();
    await runner.drain();
    const state = await releases.get(release.id);
    expect(state?.status).toBe('rolled_back');
    expect(state?.members.payments?.outcome).toContain('checkout 3.1.0 pact failed');
    expect(await rolloutStore.get('rel-1-payments')).toBeUndefined();
    expect(await locks.holder('payments')).toBeUndefined();
    expect(await locks.holder('checkout')).toBeUndefined();
  });

  it("asks a consumer's before_start check again at its start: a no by then cancels it", async () => {
    const yes = { verdict: 'yes', reason: 'verified' } as const;
    const contracts = new MemoryContractChecks(yes);
    const { releases, runner, rolloutStore } = setUp({ policy: contractPolicy, contracts });
    const release = await releases.start(MEMBERS, actor);
    await runner.drain();
    expect((await releases.get(release.id))?.members.payments?.state).toBe('running');
    contracts.answer(NEW_PAIR, { verdict: 'no', reason: 'the pact changed' });
    // payments reaches its hold: checkout may start now.
    await releases.apply(release.id, { type: 'member_held', service: 'payments' });
    await runner.drain();
    const state = await releases.get(release.id);
    expect(state?.members.checkout?.state).toBe('cancelled');
    expect(state?.members.checkout?.outcome).toContain('the pact changed');
    expect(await rolloutStore.get('rel-1-checkout')).toBeUndefined();
  });
});
