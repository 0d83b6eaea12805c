import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../shared/config/policy-loader.js';
import { silentLogger } from '../shared/log.js';
import { e2ePolicyYaml, STARTER } from '../test/support/e2e-policy.js';
import { aPlan } from '../test/support/plan-builders.js';
import { rolloutIn, RolloutDriver } from '../test/support/rollout-driver.js';
import { aCommit, nextVersion } from '../test/support/state-builders.js';
import { MemoryAgentRegistry } from './adapters/memory-agent-registry.js';
import { MemoryOnceClaims } from './adapters/memory-once-claims.js';
import { MemoryRolloutStore } from './adapters/memory-rollout-store.js';
import { MemoryServiceLocks } from './adapters/memory-service-locks.js';
import { RecordingNotifier } from './adapters/recording-notifier.js';
import { RolloutService } from './rollout-service.js';
import { Sweeps } from './sweeps.js';

const policy = parsePolicy(e2ePolicyYaml(), 'e2e-policy.yaml');
const options = { intervalMs: 1_000, agentSilenceMs: 30_000, stuckAfterMs: 60_000 };

/** Two bot replicas sharing their stores, and a clock the test moves. */
function twoReplicas(thePolicy = policy) {
  let now = Date.parse('2026-11-22T03:00:00Z');
  const clock = { now: () => now };
  const store = new MemoryRolloutStore();
  const locks = new MemoryServiceLocks(clock);
  const agents = new MemoryAgentRegistry();
  const claims = new MemoryOnceClaims(clock);
  const notifier = new RecordingNotifier();
  const service = new RolloutService({
    store,
    locks,
    policy: () => thePolicy,
    clock,
    logger: silentLogger,
    onCommitted: () => {},
  });
  const replica = () =>
    new Sweeps(
      {
        service,
        agents,
        notifier,
        claims,
        clock,
        logger: silentLogger,
        clusters: () => Object.keys(policy.clusters),
      },
      options,
    );
  return {
    replicas: [replica(), replica()],
    service,
    store,
    locks,
    agents,
    notifier,
    advance: (ms: number) => (now += ms),
    clock,
  };
}

describe('Sweeps', () => {
  it('folds finished rollouts due for it into their summary, from one of two replicas', async () => {
    const retention = { finishedRollouts: 60_000, samples: 1 };
    const { replicas, service, store, advance } = twoReplicas({ ...policy, retention });
    const rollout = await service.start({
      service: 'checkout',
      version: '2.5.0',
      startedBy: STARTER,
    });
    await service.apply(rollout.id, { type: 'abort', actor: STARTER, reason: 'test' }, 'test');
    for (const cluster of rollout.plan.clusters)
      await service.apply(rollout.id, { type: 'rolled_back', cluster }, 'test');
    const ended = await store.get(rollout.id);
    expect(ended?.status).toBe('aborted');
    // Due a millisecond after it ended (retention.samples), on the store's own clock.
    await new Promise((resolve) => setTimeout(resolve, 5));

    advance(1_000);
    await Promise.all(replicas.map((r) => r.tick()));
    expect(await service.compactFinished()).toBe(0); // folded by the tick already
    expect(await store.get(rollout.id)).toEqual(ended);
    expect((await store.history(rollout.id)).at(-1)?.status).toBe('aborted');
  });

  it('reports an agent that stopped sending heartbeats once, from one of two replicas', async () => {
    const { replicas, agents, notifier, advance, clock } = twoReplicas();
    await agents.beat('eu-west', 'agent-eu-1', clock.now());
    await agents.beat('us-east', 'agent-us-1', clock.now());
    advance(20_000);
    await agents.beat('us-east', 'agent-us-1', clock.now());
    advance(15_000); // eu-west silent for 35 s, us-east for 15 s

    await Promise.all(replicas.map((r) => r.tick()));
    advance(1_000);
    await Promise.all(replicas.map((r) => r.tick()));

    const alerts = notifier.notices.filter((n) => n.type === 'cluster_alert');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ cluster: 'eu-west' });
    expect(alerts[0]?.type === 'cluster_alert' && alerts[0].message).toContain('agent-eu-1');
  });

  it('reports a rollout stuck waiting on its clusters once, naming the clusters it waits on', async () => {
    const { replicas, service, notifier, advance } = twoReplicas();
    const rollout = await service.start({
      service: 'checkout',
      version: '2.5.0',
      startedBy: STARTER,
    });
    advance(61_000);

    await Promise.all(replicas.map((r) => r.tick()));
    advance(1_000);
    await Promise.all(replicas.map((r) => r.tick()));

    const stuck = notifier.alerts(rollout.id).filter((a) => a.kind === 'rollout_stuck');
    expect(stuck).toHaveLength(1);
    expect(stuck[0]?.message).toContain('has been progressing for 61s with no progress');
    expect(stuck[0]?.message).toContain('waiting on eu-west (applying), us-east (applying)');
  });

  it('names only the clusters of started waves as what a stuck rollout waits on', async () => {
    const inWaves = parsePolicy(
      e2ePolicyYaml().replace('defaults:\n', 'defaults:\n  waves: [[eu-west], [us-east]]\n'),
      'e2e-policy.yaml',
    );
    const { replicas, service, notifier, advance } = twoReplicas(inWaves);
    const rollout = await service.start({
      service: 'checkout',
      version: '2.5.0',
      startedBy: STARTER,
    });
    advance(61_000);
    await Promise.all(replicas.map((r) => r.tick()));

    const stuck = notifier.alerts(rollout.id).filter((a) => a.kind === 'rollout_stuck');
    expect(stuck).toHaveLength(1);
    expect(stuck[0]?.message).toContain('waiting on eu-west (applying).');
  });

  it('leaves alone a rollout waiting on a person', async () => {
    const { replicas, service, notifier, advance } = twoReplicas();
    const rollout = await service.start({
      service: 'checkout',
      version: '2.5.0',
      startedBy: STARTER,
    });
    await service.act(rollout.id, { type: 'pause' }, { id: `user:${STARTER}` });
    advance(59 * 60_000);
    await replicas[0]!.tick();
    expect(notifier.alerts(rollout.id)).toEqual([]);
  });

  it('reminds of a long pause once an hour, from one of two replicas, and stops once resumed', async () => {
    const { replicas, service, notifier, advance } = twoReplicas();
    const rollout = await service.start({
      service: 'checkout',
      version: '2.5.0',
      startedBy: STARTER,
    });
    await service.act(rollout.id, { type: 'pause' }, { id: `user:${STARTER}` });
    const paused = () => notifier.alerts(rollout.id).filter((a) => a.kind === 'rollout_paused');
    advance(60 * 60_000);
    await Promise.all(replicas.map((r) => r.tick()));
    advance(10 * 60_000);
    await Promise.all(replicas.map((r) => r.tick()));
    expect(paused()).toHaveLength(1);
    expect(paused()[0]?.message).toBe(
      `Rollout ${rollout.id} (checkout 2.5.0) has been paused for 1h at 0% in eu-west, 0% in us-east: ` +
        'the new version serves that traffic with no gate judging it, and checkout stays locked. ' +
        'Resume it or abort it.',
    );
    advance(50 * 60_000);
    await Promise.all(replicas.map((r) => r.tick()));
    expect(paused()).toHaveLength(2);
    expect(paused()[1]?.message).toContain('paused for 2h');

    await service.act(rollout.id, { type: 'resume' }, { id: `user:${STARTER}` });
    advance(3 * 3_600_000);
    await Promise.all(replicas.map((r) => r.tick()));
    expect(paused()).toHaveLength(2);
  });

  it('frees a service lock whose rollout was never stored, after the grace period', async () => {
    const { replicas, service, locks, advance } = twoReplicas();
    await locks.acquire('checkout', 'checkout-0dead0'); // a bot crashed before storing it
    advance(4 * 60_000);
    await replicas[0]!.tick();
    expect(await locks.holder('checkout')).toBe('checkout-0dead0');

    advance(60_000);
    await replicas[1]!.tick();
    expect(await locks.holder('checkout')).toBeUndefined();
    const next = await service.start({ service: 'checkout', version: '2.5.0', startedBy: STARTER });
    expect(await locks.holder('checkout')).toBe(next.id);
  });
});

describe('Sweeps: approvals that wait too long', () => {
  const HOUR = 3_600_000;
  async function waiting(onTimeout: 'wait' | 'abort') {
    const replicas = twoReplicas();
    const plan = aPlan()
      .withStages(5, 25, 100)
      .withClusters('eu-west')
      .withApproval(
        { approvers: [], remindAfterMs: HOUR, escalateAfterMs: 2 * HOUR, onTimeout },
        { atStage: 0 },
      )
      .build();
    const state = rolloutIn('awaiting_approval', plan).state;
    await replicas.store.create(aCommit(state));
    replicas.advance(state.updatedAt - replicas.clock.now());
    return { ...replicas, state };
  }
  /** The approval notices the sweeps decided, as they wait in the outbox to be delivered. */
  const notices = async (store: MemoryRolloutStore) =>
    (await store.pendingEffects(1_000)).flatMap((p) =>
      p.effect.type === 'notify' && p.effect.kind.startsWith('approval_')
        ? [{ kind: p.effect.kind, message: p.effect.message }]
        : [],
    );

  it('reminds the approvers once past the timeout, then pages on-call once past the escalation', async () => {
    const { replicas, store, advance, service, state } = await waiting('wait');
    advance(HOUR - 1_000);
    await Promise.all(replicas.map((r) => r.tick()));
    expect(await notices(store)).toEqual([]);

    advance(2_000);
    await Promise.all(replicas.map((r) => r.tick()));
    advance(1_000);
    await Promise.all(replicas.map((r) => r.tick()));
    expect((await notices(store)).map((n) => n.kind)).toEqual(['approval_reminder']);
    expect((await notices(store))[0]!.message).toMatch(
      /waited 1h.* for approval at stage 1\/3 \(5%\) \(0 of 1\) from anyone/,
    );

    advance(HOUR);
    await Promise.all(replicas.map((r) => r.tick()));
    advance(1_000);
    await Promise.all(replicas.map((r) => r.tick()));
    expect((await notices(store)).map((n) => n.kind)).toEqual([
      'approval_reminder',
      'approval_overdue',
    ]);
    expect((await notices(store))[1]!.message).toMatch(
      /holds the service until someone approves or aborts it/,
    );
    expect((await service.get(state.id))?.status).toBe('awaiting_approval');
  });

  it('aborts the rollout past the escalation when the policy says abort, with the page in the same commit', async () => {
    const { replicas, store, advance, service, state } = await waiting('abort');
    advance(2 * HOUR + 1_000);
    await replicas[0]!.tick();
    expect((await notices(store)).map((n) => n.kind)).toEqual(['approval_overdue']);
    const after = await service.get(state.id);
    expect(after?.status).toBe('rolling_back');
    expect(after?.outcome).toMatch(/aborted by system:approval-timeout: no approval within 2h/);
  });

  it('counts the wait from when it began, although health samples keep changing the rollout', async () => {
    const { replicas, store, advance, state } = await waiting('wait');
    let current = state;
    for (let minute = 0; minute < 61; minute++) {
      advance(60_000);
      // What every accepted health sample does: a new version, a new updatedAt.
      current = nextVersion(current, { updatedAt: current.updatedAt + 60_000 });
      await store.commit(aCommit(current));
    }
    await replicas[0]!.tick();
    expect((await notices(store)).map((n) => n.kind)).toEqual(['approval_reminder']);
  });

  it('runs a lost rollback retry: a rollback timer past due by the floor is run by the sweep', async () => {
    const replicas = twoReplicas();
    const plan = aPlan().withStages(5, 100).withClusters('eu-west', 'us-east').build();
    const d = rolloutIn('rolling_back', plan);
    d.accept({ type: 'rolled_back', cluster: 'eu-west' });
    d.accept({
      type: 'command_failed',
      cluster: 'us-east',
      commandId: 'c-1',
      commandType: 'rollback',
      reason: 'api down',
    });
    await replicas.store.create(aCommit(d.state));
    replicas.advance(d.state.gate.retryDueAt! - replicas.clock.now() + 61_000);
    await replicas.replicas[0]!.tick();
    const after = await replicas.service.get(d.state.id);
    expect(after?.clusters['us-east']?.status).toBe('rolling_back');
    const trail = await replicas.service.auditTrail(d.state.id);
    expect(trail.at(-1)).toMatchObject({ input: 'rollback_retry', actor: 'system:sweep' });
  });

  it('reschedules a lost gate tick of a release member holding at 100%, and never calls it stuck', async () => {
    const replicas = twoReplicas();
    const plan = aPlan().withStages(5, 100).withClusters('eu-west').inRelease('rel-1').build();
    const d = new RolloutDriver(plan, { now: replicas.clock.now() });
    d.start();
    d.completeStage().completeStage();
    expect(d.state.status).toBe('held');
    const { tick } = d.state.gate;
    await replicas.store.create(aCommit(d.state));
    replicas.advance(d.state.gate.scheduledAt! - replicas.clock.now() + 10 * 60_000);
    await replicas.replicas[0]!.tick();
    const after = await replicas.service.get(d.state.id);
    expect(after?.status).toBe('held');
    expect(after?.gate.tick).toBe(tick + 1);
    const trail = await replicas.service.auditTrail(d.state.id);
    expect(trail.at(-1)).toMatchObject({ input: 'gate_lost', actor: 'system:sweep' });
    expect(replicas.notifier.alerts(d.state.id).map((a) => a.kind)).not.toContain('rollout_stuck');
  });

  it('sends a stuck alert that was not delivered again on the next sweep', async () => {
    const { replicas, service, notifier, advance } = twoReplicas();
    const alert = notifier.alert.bind(notifier);
    let failures = 1;
    notifier.alert = async (...args) => {
      if (failures-- > 0) throw new Error('Slack is down');
      return alert(...args);
    };
    await service.start({ service: 'checkout', version: '2.5.0', startedBy: STARTER });
    advance(61_000);
    await replicas[0]!.tick();
    expect(notifier.notices.filter((n) => n.type === 'alert')).toEqual([]);
    advance(1_000);
    await replicas[1]!.tick();
    expect(
      notifier.notices.filter((n) => n.type === 'alert').map((n) => n.type === 'alert' && n.kind),
    ).toEqual(['rollout_stuck']);
  });

  it('sends a silent-agent alert that was not delivered again on the next sweep', async () => {
    const { replicas, agents, notifier, advance, clock } = twoReplicas();
    const clusterAlert = notifier.clusterAlert.bind(notifier);
    let failures = 1;
    notifier.clusterAlert = async (...args) => {
      if (failures-- > 0) throw new Error('Slack is down');
      return clusterAlert(...args);
    };
    await agents.beat('eu-west', 'agent-eu-1', clock.now());
    advance(31_000);
    await replicas[0]!.tick();
    expect(notifier.notices.filter((n) => n.type === 'cluster_alert')).toEqual([]);
    advance(1_000);
    await replicas[1]!.tick();
    expect(notifier.notices.filter((n) => n.type === 'cluster_alert')).toHaveLength(1);
  });
});
