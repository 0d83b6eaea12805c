import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../shared/config/policy-loader.js';
import { silentLogger } from '../shared/log.js';
import type { Commit, RolloutStore } from '../shared/ports/rollout-store.js';
import type { RolloutState, RolloutStatus } from '../shared/rollout/state.js';
import { e2ePolicyYaml, STARTER } from '../test/support/e2e-policy.js';
import { aCommit, nextVersion } from '../test/support/state-builders.js';
import { MemoryRolloutStore } from './adapters/memory-rollout-store.js';
import { MemoryServiceLocks } from './adapters/memory-service-locks.js';
import { RolloutService } from './rollout-service.js';

const policy = parsePolicy(e2ePolicyYaml(), 'e2e-policy.yaml');

/** A store whose `create` can be made to fail before or after it writes, and `get` to fail. */
class FlakyStore extends MemoryRolloutStore {
  createFails: 'before-write' | 'after-write' | undefined;
  getFails = false;

  override async create(commit: Commit): Promise<void> {
    const failure = this.createFails;
    this.createFails = undefined;
    if (failure === 'before-write') throw new Error('connection reset before the write');
    await super.create(commit);
    if (failure === 'after-write') throw new Error('connection reset before the reply');
  }

  override async get(id: string): Promise<RolloutState | undefined> {
    if (this.getFails) throw new Error('redis unavailable');
    return super.get(id);
  }
}

function setUp(
  store: RolloutStore = new MemoryRolloutStore(),
  readClock?: () => number,
  moveClock?: (ms: number) => void,
) {
  let now = Date.parse('2026-11-22T03:00:00Z');
  const clock = { now: readClock ?? (() => now) };
  const locks = new MemoryServiceLocks(clock);
  const committed: string[] = [];
  const service = new RolloutService({
    store,
    locks,
    policy: () => policy,
    clock,
    logger: silentLogger,
    onCommitted: (id) => committed.push(id),
  });
  const advance = moveClock ?? ((ms: number) => (now += ms));
  return { service, store, locks, committed, advance };
}

/** Moves a stored rollout to a terminal status, as its last transition would. */
async function finish(
  store: RolloutStore,
  id: string,
  status: RolloutStatus,
  retainForMs?: number,
): Promise<void> {
  const state = (await store.get(id))!;
  await store.commit({
    ...aCommit(nextVersion(state, { status })),
    ...(retainForMs !== undefined && { retainForMs }),
  });
}

const checkout = (version: string) => ({ service: 'checkout', version, startedBy: STARTER });

describe('RolloutService.start: the stable version', () => {
  it("plans with the policy's stable version before any rollout of the service succeeded", async () => {
    const { service } = setUp();
    expect((await service.start(checkout('2.5.0'))).plan.stableVersion).toBe('2.4.0');
  });

  it('plans with the version of the last succeeded rollout once there is one', async () => {
    const { service, store, locks, advance } = setUp();
    const first = await service.start(checkout('2.5.0'));
    await finish(store, first.id, 'succeeded');
    await locks.release('checkout', first.id);
    advance(60_000);

    const second = await service.start(checkout('2.6.0'));
    expect(second.plan.stableVersion).toBe('2.5.0');

    // A rollout that did not succeed changes nothing: 2.5.0 still runs.
    await finish(store, second.id, 'rolled_back');
    await locks.release('checkout', second.id);
    advance(60_000);
    const third = await service.start(checkout('2.6.1'));
    expect(third.plan.stableVersion).toBe('2.5.0');
  });

  it('refuses to start the stable version, naming it, and an older one without allowDowngrade', async () => {
    const { service, store, locks, advance } = setUp();
    await expect(service.start(checkout('2.4.0'))).rejects.toMatchObject({
      code: 'same_as_stable',
      message: expect.stringContaining('checkout already runs 2.4.0 as its stable version'),
    });
    const first = await service.start(checkout('2.5.0'));
    await finish(store, first.id, 'succeeded');
    await locks.release('checkout', first.id);
    advance(60_000);
    await expect(service.start(checkout('2.5.0'))).rejects.toMatchObject({
      code: 'same_as_stable',
    });
    await expect(service.start(checkout('2.4.9'))).rejects.toMatchObject({
      code: 'downgrade',
      message: expect.stringContaining('add --allow-downgrade'),
    });
    expect(await locks.holder('checkout')).toBeUndefined();
    expect(await service.list()).toEqual([]);
    const back = await service.start({ ...checkout('2.4.9'), allowDowngrade: true });
    expect(back.plan.stableVersion).toBe('2.5.0');
  });

  it('previews a start: the stable version it would use and why it would be refused now', async () => {
    const { service, store, locks, advance } = setUp();
    const first = await service.start(checkout('2.5.0'));
    await finish(store, first.id, 'succeeded');
    await locks.release('checkout', first.id);
    advance(60_000);
    const active = await service.start(checkout('2.6.0'));

    const preview = await service.preview(checkout('2.5.0'));
    expect(preview.plan.stableVersion).toBe('2.5.0');
    expect(preview.refusals.map((r) => r.code)).toEqual(['same_as_stable', 'service_busy']);
    expect(preview.refusals[1]!.message).toContain(active.id);
    expect((await service.preview(checkout('2.7.0'))).refusals.map((r) => r.code)).toEqual([
      'service_busy',
    ]);
    // Nothing was started by looking.
    expect((await service.list()).map((s) => s.id)).toEqual([active.id]);
  });

  it('tracks the stable version per cluster: after a rollout to eu-west only, us-east still runs the old one', async () => {
    const partial = parsePolicy(
      e2ePolicyYaml().replace(
        '    stableVersion: 2.4.0',
        '    stableVersion: 2.4.0\n    overrides: { clusters: true }',
      ),
      'e2e-policy.yaml',
    );
    const store = new MemoryRolloutStore();
    const clock = { now: () => Date.parse('2026-11-22T03:00:00Z') };
    const locks = new MemoryServiceLocks(clock);
    const service = new RolloutService({
      store,
      locks,
      policy: () => partial,
      clock,
      logger: silentLogger,
      onCommitted: () => {},
    });
    const first = await service.start({ ...checkout('2.5.0'), clusters: ['eu-west'] });
    await finish(store, first.id, 'succeeded');
    await locks.release('checkout', first.id);

    const next = await service.start(checkout('2.6.0'));
    expect(next.plan.stableVersions).toEqual({ 'eu-west': '2.5.0', 'us-east': '2.4.0' });
    const starts = (await store.pendingEffects(100)).flatMap((p) =>
      p.rolloutId === next.id &&
      p.effect.type === 'publish_command' &&
      p.effect.command.type === 'start'
        ? [[p.effect.cluster, p.effect.command.payload.stableVersion]]
        : [],
    );
    // Each cluster's rollback returns to what that cluster ran.
    expect(starts).toEqual([
      ['eu-west', '2.5.0'],
      ['us-east', '2.4.0'],
    ]);
    await finish(store, next.id, 'aborted');
    await locks.release('checkout', next.id);
    // The same version as one cluster's stable is still a real change for the other.
    await expect(service.start(checkout('2.5.0'))).resolves.toMatchObject({
      plan: { stableVersions: { 'eu-west': '2.5.0', 'us-east': '2.4.0' } },
    });
  });

  it('reads only the same service’s rollouts', async () => {
    const { service, store } = setUp();
    const search = await service.start({ service: 'search', version: '8.0.0', startedBy: STARTER });
    await finish(store, search.id, 'succeeded');
    expect((await service.start(checkout('2.5.0'))).plan.stableVersion).toBe('2.4.0');
  });
});

describe('RolloutService.start: the service lock when storing fails', () => {
  it('frees the lock when the rollout was not stored', async () => {
    const store = new FlakyStore();
    const { service, locks, committed } = setUp(store);
    store.createFails = 'before-write';

    await expect(service.start(checkout('2.5.0'))).rejects.toThrow('before the write');
    expect(await locks.holder('checkout')).toBeUndefined();
    expect(committed).toEqual([]);
  });

  it('keeps the lock of a rollout stored in spite of the failure, and carries on with it', async () => {
    const store = new FlakyStore();
    const { service, locks, committed } = setUp(store);
    store.createFails = 'after-write';

    const started = await service.start(checkout('2.5.0'));

    expect(await store.get(started.id)).toMatchObject({ id: started.id, status: started.status });
    expect(await locks.holder('checkout')).toBe(started.id);
    expect(committed).toEqual([started.id]);
    await expect(service.start(checkout('2.5.1'))).rejects.toMatchObject({ code: 'service_busy' });
  });

  it('keeps the lock when it cannot tell; the sweep frees it once the grace period has passed', async () => {
    const store = new FlakyStore();
    const { service, locks, advance } = setUp(store);
    store.createFails = 'before-write';
    store.getFails = true;

    await expect(service.start(checkout('2.5.0'))).rejects.toThrow('before the write');
    const orphan = await locks.holder('checkout');
    expect(orphan).toBeDefined();
    store.getFails = false;

    advance(59_000);
    expect(await service.releaseOrphanedLocks(60_000)).toEqual([]);
    expect(await locks.holder('checkout')).toBe(orphan);
    advance(1_000);
    expect(await service.releaseOrphanedLocks(60_000)).toEqual([
      { service: 'checkout', rolloutId: orphan, acquiredAt: expect.any(Number) },
    ]);
    expect(await locks.holder('checkout')).toBeUndefined();
    expect((await service.start(checkout('2.5.0'))).status).not.toBe('failed');
  });
});

describe('RolloutService.releaseOrphanedLocks', () => {
  it('frees the lock of an ended rollout at once and leaves a live rollout’s lock alone', async () => {
    const { service, store, locks } = setUp();
    const ended = await service.start(checkout('2.5.0'));
    const live = await service.start({ service: 'search', version: '8.0.0', startedBy: STARTER });
    await finish(store, ended.id, 'aborted'); // its release_lock effect never ran

    expect(await service.releaseOrphanedLocks(60_000)).toEqual([
      { service: 'checkout', rolloutId: ended.id, acquiredAt: expect.any(Number) },
    ]);
    expect(await locks.holder('checkout')).toBeUndefined();
    expect(await locks.holder('search')).toBe(live.id);
  });

  it('never frees a lock a newer rollout took in the meantime', async () => {
    const { service, locks, advance } = setUp();
    await locks.acquire('checkout', 'checkout-crashed');
    advance(120_000);
    const holders = await locks.holders();
    await locks.release('checkout', 'checkout-crashed');
    const fresh = await service.start(checkout('2.5.0'));
    // A replica that listed the old lock before the new start still only frees that id.
    for (const lock of holders) await locks.release(lock.service, lock.rolloutId);
    expect(await locks.holder('checkout')).toBe(fresh.id);
    expect(await service.releaseOrphanedLocks(60_000)).toEqual([]);
  });
});

describe('RolloutService: finished rollouts expire', () => {
  it('commits the end of a rollout with the policy retention, and plans from the kept stable version after it expired', async () => {
    let now = Date.parse('2026-11-22T03:00:00Z');
    const store = new MemoryRolloutStore({ now: () => now });
    const { service, locks } = setUp(
      store,
      () => now,
      (ms) => (now += ms),
    );
    expect(policy.retention).toEqual({ finishedRollouts: 30 * 86_400_000, samples: 3_600_000 });
    const first = await service.start(checkout('2.5.0'));
    await service.act(first.id, { type: 'abort', reason: 'not today' }, { id: `user:${STARTER}` });
    for (const cluster of first.plan.clusters)
      await service.apply(first.id, { type: 'rolled_back', cluster }, 'agent');
    expect((await store.get(first.id))?.status).toBe('aborted');
    await locks.release('checkout', first.id);

    const second = await service.start(checkout('2.5.1'));
    await finish(store, second.id, 'succeeded', policy.retention.finishedRollouts);
    await locks.release('checkout', second.id);
    now += policy.retention.finishedRollouts + 1;
    expect(await store.get(first.id)).toBeUndefined();
    expect(await store.get(second.id)).toBeUndefined();

    const third = await service.start(checkout('2.6.0'));
    expect(third.plan.stableVersion).toBe('2.5.1');
  });
});

describe('RolloutService.apply: the history', () => {
  it('writes a line for every decision and none for routine gate ticks, which still commit', async () => {
    const { service, store, advance } = setUp();
    const started = await service.start(checkout('2.5.0'));
    for (const cluster of started.plan.clusters) {
      await service.apply(
        started.id,
        { type: 'stage_applied', cluster, stageIndex: 0, weight: started.plan.stages[0]!.weight },
        'agent',
      );
    }
    const verdict = { consecutiveFailures: 0, checks: [], inconclusive: [], summary: 'healthy' };
    for (let i = 0; i < 3; i++) {
      advance(50); // three ticks within the policy's 300 ms bake
      const state = (await store.get(started.id))!;
      await service.apply(
        started.id,
        {
          type: 'gate_result',
          stageIndex: 0,
          tick: state.gate.tick,
          verdict: { outcome: 'pass', ...verdict },
        },
        'system:gate',
      );
    }
    const state = (await store.get(started.id))!;
    expect(state.status).toBe('baking');
    const trail = await service.auditTrail(started.id);
    expect(trail.map((h) => h.input)).toEqual([
      'start',
      ...started.plan.clusters.map(() => 'stage_applied'),
      'gate_result',
    ]);
    // The skipped ticks were committed all the same: the version counts them.
    expect(state.version).toBe(trail.at(-1)!.version + 2);
  });
});
