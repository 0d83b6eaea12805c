import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryRolloutStore } from '../../bot/adapters/memory-rollout-store.js';
import { RedisRolloutStore } from '../../bot/adapters/redis-rollout-store.js';
import { RolloutExistsError, VersionConflictError } from '../../shared/errors.js';
import {
  CorruptRecordError,
  RolloutNotFoundError,
  type RolloutStore,
} from '../../shared/ports/rollout-store.js';
import { RolloutStatus, type Effect, type RolloutState } from '../../shared/rollout/state.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';
import {
  aCommit,
  aHistoryEntry,
  aRolloutId,
  aRolloutState,
  nextVersion,
} from '../support/state-builders.js';

interface Harness {
  name: string;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** A store that sees none of the data of the stores made before it. */
  fresh(): RolloutStore;
}

function memoryHarness(): Harness {
  return {
    name: 'MemoryRolloutStore',
    setup: async () => {},
    teardown: async () => {},
    fresh: () => new MemoryRolloutStore(),
  };
}

function redisHarness(): Harness {
  let server: RedisServer | undefined;
  let redis: Redis | undefined;
  let n = 0;
  return {
    name: 'RedisRolloutStore',
    async setup() {
      server = await startRedis();
      redis = new Redis(server.url);
    },
    async teardown() {
      await redis?.quit();
      await server?.stop();
    },
    // A fresh key prefix per store isolates tests on one server (and exercises the option).
    fresh: () => new RedisRolloutStore(redis!, { prefix: `t${n++}:rollout:` }),
  };
}

const publish = (cluster: string, seq: number): Effect => ({
  type: 'publish_command',
  cluster,
  seq,
  command: { type: 'pause', payload: { service: 'checkout' } },
});
const updateCard = (): Effect => ({ type: 'update_card' });

describe.each([memoryHarness(), redisHarness()])('RolloutStore contract: $name', (harness) => {
  let store: RolloutStore;
  beforeAll(() => harness.setup());
  afterAll(() => harness.teardown());
  beforeEach(() => {
    store = harness.fresh();
  });

  describe('create and get', () => {
    it('returns undefined for an unknown id', async () => {
      expect(await store.get('no-such-rollout')).toBeUndefined();
    });

    it('returns what was created, with its history entry and its effects pending', async () => {
      const state = aRolloutState().withId('checkout-1').build();
      const commit = aCommit(state, [updateCard(), publish('eu-west', 1)]);
      await store.create(commit);

      expect(await store.get('checkout-1')).toEqual(state);
      expect(await store.history('checkout-1')).toEqual([commit.history]);
      const pending = await store.pendingEffects();
      expect(pending).toEqual(
        commit.effects.map(({ id, effect }) => ({
          id,
          rolloutId: 'checkout-1',
          version: 0,
          seq: expect.any(Number),
          effect,
        })),
      );
      expect(pending[1]!.seq).toBeGreaterThan(pending[0]!.seq);
    });

    it('refuses an id that is taken, and leaves the first rollout as it was', async () => {
      const first = aRolloutState().withId('dup').withService('checkout').build();
      await store.create(aCommit(first));
      const second = aRolloutState().withId('dup').withService('payments').build();

      const attempt = store.create(aCommit(second, [updateCard()]));

      await expect(attempt).rejects.toBeInstanceOf(RolloutExistsError);
      await expect(attempt).rejects.toMatchObject({ code: 'rollout_exists', rolloutId: 'dup' });
      expect(await store.get('dup')).toEqual(first);
      expect(await store.history('dup')).toHaveLength(1);
      expect(await store.pendingEffects()).toEqual([]);
      expect(await store.list({ service: 'payments' })).toEqual([]);
    });
  });

  describe('commit', () => {
    it('replaces the state at the next version and appends history in order', async () => {
      const v0 = aRolloutState().build();
      const v1 = nextVersion(v0, { status: 'progressing' });
      const v2 = nextVersion(v1, { status: 'baking' });
      await store.create(aCommit(v0, [], { input: 'create' }));
      await store.commit(aCommit(v1, [], { input: 'start' }));
      await store.commit(aCommit(v2, [], { input: 'stage_applied' }));

      expect(await store.get(v0.id)).toEqual(v2);
      const trail = await store.history(v0.id);
      expect(trail.map((h) => [h.version, h.input, h.status])).toEqual([
        [0, 'create', 'pending'],
        [1, 'start', 'progressing'],
        [2, 'stage_applied', 'baking'],
      ]);
    });

    it('commits without a history entry when given none: state and effects, the trail unchanged', async () => {
      const v0 = aRolloutState().build();
      const v1 = nextVersion(v0, { status: 'progressing' });
      const v2 = nextVersion(v1, { status: 'baking' });
      await store.create(aCommit(v0, [], { input: 'create' }));
      await store.commit(aCommit(v1, [], { input: 'start' }));
      const { history: _none, ...quiet } = aCommit(v2, [updateCard()]);
      await store.commit(quiet);

      expect(await store.get(v0.id)).toEqual(v2);
      expect((await store.history(v0.id)).map((h) => h.version)).toEqual([0, 1]);
      expect((await store.pendingEffects()).map((p) => p.version)).toEqual([2]);
    });

    it('rejects a stale or skipped version with VersionConflictError and writes nothing', async () => {
      const v0 = aRolloutState().build();
      const v1 = nextVersion(v0, { status: 'progressing' });
      await store.create(aCommit(v0));
      await store.commit(aCommit(v1));
      const before = { state: await store.get(v0.id), history: await store.history(v0.id) };

      const stale = store.commit(aCommit(nextVersion(v0, { status: 'paused' }), [updateCard()]));
      await expect(stale).rejects.toBeInstanceOf(VersionConflictError);
      await expect(stale).rejects.toMatchObject({
        code: 'version_conflict',
        rolloutId: v0.id,
        expectedVersion: 0,
      });
      const skipped = store.commit(aCommit(nextVersion(nextVersion(v1)), [updateCard()]));
      await expect(skipped).rejects.toBeInstanceOf(VersionConflictError);

      expect(await store.get(v0.id)).toEqual(before.state);
      expect(await store.history(v0.id)).toEqual(before.history);
      expect(await store.pendingEffects()).toEqual([]);
    });

    it('rejects a commit for an unknown rollout with RolloutNotFoundError', async () => {
      const ghost = nextVersion(aRolloutState().build());
      await expect(store.commit(aCommit(ghost))).rejects.toBeInstanceOf(RolloutNotFoundError);
      expect(await store.get(ghost.id)).toBeUndefined();
    });

    it('lets exactly one of several concurrent commits from the same base win', async () => {
      const v0 = aRolloutState().build();
      await store.create(aCommit(v0));
      const statuses = ['progressing', 'paused', 'rolling_back', 'baking', 'aborted'] as const;
      const commits = statuses.map((status, i) =>
        aCommit(nextVersion(v0, { status }), [publish(`c${i}`, i + 1)], { input: 'start' }),
      );

      const results = await Promise.allSettled(commits.map((c) => store.commit(c)));

      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [commits[i]!] : []));
      const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(statuses.length - 1);
      for (const err of lost) expect(err).toBeInstanceOf(VersionConflictError);
      const winner = won[0]!;
      expect(await store.get(v0.id)).toEqual(winner.state);
      expect((await store.history(v0.id)).map((h) => h.status)).toEqual([
        'pending',
        winner.state.status,
      ]);
      expect((await store.pendingEffects()).map((p) => p.id)).toEqual(
        winner.effects.map((e) => e.id),
      );
      expect(await store.list({ statuses: [winner.state.status] })).toEqual([winner.state]);
    });
  });

  describe('retention of finished rollouts', () => {
    it('expires a finished rollout committed with a retention: gone from get, history and list', async () => {
      const v0 = aRolloutState().withService('retained').build();
      const v1 = nextVersion(v0, { status: 'aborted' });
      const kept = aRolloutState()
        .withService('retained')
        .createdAt(v0.createdAt - 1)
        .build();
      await store.create(aCommit(v0));
      await store.create(aCommit(kept));
      await store.commit({ ...aCommit(v1, [], { input: 'abort' }), retainForMs: 150 });
      expect(await store.get(v0.id)).toEqual(v1);

      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await store.get(v0.id)).toBeUndefined();
      expect(await store.history(v0.id)).toEqual([]);
      expect(await store.list({ service: 'retained' })).toEqual([kept]);
      expect(await store.list({ statuses: ['aborted'] })).toEqual([]);
      expect(await store.list()).toEqual([kept]);
      // A later write takes it out of the indexes too; nothing else changes.
      await store.commit(aCommit(nextVersion(kept, { status: 'progressing' })));
      expect((await store.list()).map((s) => s.id)).toEqual([kept.id]);
    });

    it('folds a finished rollout into its summary once due: every read answers as before', async () => {
      const v0 = aRolloutState().withService('folded').build();
      const v1 = nextVersion(v0, { status: 'aborted' });
      const running = aRolloutState()
        .withService('folded')
        .createdAt(v0.createdAt - 1)
        .build();
      await store.create(aCommit(v0));
      await store.create(aCommit(running));
      await store.commit({
        ...aCommit(v1, [], { input: 'abort' }),
        retainForMs: 60_000,
        compactAfterMs: 50,
      });
      const history = await store.history(v0.id);
      expect(await store.compactDue()).toBe(0); // not due yet

      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(await store.compactDue()).toBe(1);
      expect(await store.compactDue()).toBe(0); // once
      expect(await store.get(v0.id)).toEqual(v1);
      expect(await store.history(v0.id)).toEqual(history);
      expect(await store.list({ service: 'folded' })).toEqual([v1, running]);
      expect(await store.list({ statuses: ['aborted'] })).toEqual([v1]);
      // A denial on the folded rollout is still recorded after its trail; its id stays taken.
      const denied = aHistoryEntry(v1, { input: 'denied', detail: 'abort refused' });
      await store.appendHistory(v0.id, denied);
      expect(await store.history(v0.id)).toEqual([...history, denied]);
      await expect(store.create(aCommit(v0))).rejects.toBeInstanceOf(RolloutExistsError);
      // The running rollout was never due: it is untouched.
      expect(await store.get(running.id)).toEqual(running);
    });

    it('expires a folded rollout with its retention', async () => {
      const v0 = aRolloutState().withService('folded-gone').build();
      const v1 = nextVersion(v0, { status: 'succeeded' });
      await store.create(aCommit(v0));
      await store.commit({ ...aCommit(v1), retainForMs: 2_000, compactAfterMs: 1 });
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await store.compactDue()).toBe(1);
      expect(await store.get(v0.id)).toEqual(v1);
      await expect.poll(() => store.get(v0.id), { timeout: 6_000, interval: 100 }).toBeUndefined();
      expect(await store.history(v0.id)).toEqual([]);
      expect(await store.list({ service: 'folded-gone' })).toEqual([]);
      await expect(
        store.appendHistory(v0.id, aHistoryEntry(v1, { input: 'denied' })),
      ).rejects.toBeInstanceOf(RolloutNotFoundError);
    });

    it('keeps what succeeded rollouts made stable per cluster after they expired, the newest winning', async () => {
      const older = aRolloutState().withService('stable').createdAt(1_000).build();
      older.plan.clusters = ['eu-west', 'us-east'];
      older.plan.version = '1.0.0';
      const newer = aRolloutState().withService('stable').createdAt(2_000).build();
      newer.plan.clusters = ['eu-west'];
      newer.plan.version = '1.1.0';
      const failed = aRolloutState().withService('stable').createdAt(3_000).build();
      failed.plan.version = '1.2.0';
      for (const state of [newer, older, failed]) await store.create(aCommit(state));
      // Out of order: the newer rollout succeeds first.
      await store.commit({
        ...aCommit(nextVersion(newer, { status: 'succeeded' })),
        retainForMs: 100,
      });
      await store.commit({
        ...aCommit(nextVersion(older, { status: 'succeeded' })),
        retainForMs: 100,
      });
      await store.commit({
        ...aCommit(nextVersion(failed, { status: 'rolled_back' })),
        retainForMs: 100,
      });
      expect(await store.stableVersions('stable')).toEqual({
        'eu-west': '1.1.0',
        'us-east': '1.0.0',
      });

      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await store.list({ service: 'stable' })).toEqual([]);
      expect(await store.stableVersions('stable')).toEqual({
        'eu-west': '1.1.0',
        'us-east': '1.0.0',
      });
      expect(await store.stableVersions('never-rolled-out')).toEqual({});
    });
  });

  describe('copies', () => {
    it('is not changed by mutating what it returned or what was passed in', async () => {
      const state = aRolloutState().build();
      const commit = aCommit(state, [updateCard()]);
      await store.create(commit);
      const snapshot = structuredClone(state);

      state.status = 'failed';
      state.plan.clusters.push('us-east');
      commit.history.actor = 'U-mallory';
      (commit.effects[0]!.effect as { type: string }).type = 'cancel_gates';
      const got = (await store.get(state.id))!;
      got.version = 99;
      got.approvals.push('U-someone');
      (await store.list())[0]!.clusters['eu-west']!.weight = 50;
      (await store.history(state.id))[0]!.status = 'succeeded';
      (await store.pendingEffects())[0]!.version = 42;

      expect(await store.get(state.id)).toEqual(snapshot);
      expect((await store.history(state.id))[0]).toMatchObject({
        actor: 'U-starter',
        status: 'pending',
      });
      expect(await store.pendingEffects()).toMatchObject([
        { version: 0, effect: { type: 'update_card' } },
      ]);
    });
  });

  describe('list', () => {
    async function seed(): Promise<Record<'a' | 'b' | 'c' | 'd', RolloutState>> {
      const rows = {
        a: aRolloutState()
          .withId('a')
          .withService('checkout')
          .withStatus('succeeded')
          .createdAt(1000)
          .build(),
        b: aRolloutState()
          .withId('b')
          .withService('payments')
          .withStatus('baking')
          .createdAt(2000)
          .build(),
        c: aRolloutState()
          .withId('c')
          .withService('checkout')
          .withStatus('baking')
          .createdAt(3000)
          .build(),
        d: aRolloutState()
          .withId('d')
          .withService('checkout')
          .withStatus('pending')
          .createdAt(4000)
          .build(),
      };
      // Created out of order: the order of list comes from createdAt, not from insertion.
      for (const key of ['c', 'a', 'd', 'b'] as const) await store.create(aCommit(rows[key]));
      return rows;
    }

    it('lists newest first, filtered by service, by statuses, both, and limited', async () => {
      const { a, b, c, d } = await seed();
      expect(await store.list()).toEqual([d, c, b, a]);
      expect(await store.list({ service: 'checkout' })).toEqual([d, c, a]);
      expect(await store.list({ statuses: ['baking'] })).toEqual([c, b]);
      expect(await store.list({ statuses: ['succeeded', 'pending'] })).toEqual([d, a]);
      expect(await store.list({ service: 'checkout', statuses: ['baking', 'succeeded'] })).toEqual([
        c,
        a,
      ]);
      expect(await store.list({ limit: 2 })).toEqual([d, c]);
      expect(await store.list({ service: 'checkout', limit: 1 })).toEqual([d]);
      expect(await store.list({ statuses: ['baking', 'pending', 'succeeded'], limit: 2 })).toEqual([
        d,
        c,
      ]);
      expect(await store.list({ service: 'search' })).toEqual([]);
      expect(await store.list({ statuses: [] })).toEqual([]);
    });

    it('follows status changes made by commits', async () => {
      const { d } = await seed();
      const d1 = nextVersion(d, { status: 'progressing' });
      await store.commit(aCommit(d1));
      expect((await store.list({ statuses: ['pending'] })).map((s) => s.id)).toEqual([]);
      expect(await store.list({ statuses: ['progressing'] })).toEqual([d1]);
      expect(await store.list({ service: 'checkout', statuses: ['progressing'] })).toEqual([d1]);
    });

    it('breaks createdAt ties by id, greater first', async () => {
      for (const id of ['m', 'z', 'a']) {
        await store.create(aCommit(aRolloutState().withId(id).createdAt(5000).build()));
      }
      expect((await store.list()).map((s) => s.id)).toEqual(['z', 'm', 'a']);
    });

    it('matches a plain filter-and-sort for any rollouts and filter', async () => {
      const row = fc.record({
        service: fc.constantFrom('checkout', 'payments', 'search'),
        status: fc.constantFrom(...RolloutStatus.options),
        createdAt: fc.integer({ min: 1, max: 20 }),
      });
      const filter = fc.record(
        {
          service: fc.constantFrom('checkout', 'payments', 'search'),
          statuses: fc.uniqueArray(fc.constantFrom(...RolloutStatus.options), {
            minLength: 1,
            maxLength: 4,
          }),
          limit: fc.integer({ min: 1, max: 6 }),
        },
        { requiredKeys: [] },
      );
      await fc.assert(
        fc.asyncProperty(fc.array(row, { maxLength: 12 }), filter, async (rows, f) => {
          const s = harness.fresh();
          const states = rows.map((r, i) =>
            aRolloutState()
              .withId(`p${i}`)
              .withService(r.service)
              .withStatus(r.status)
              .createdAt(r.createdAt)
              .build(),
          );
          for (const state of states) await s.create(aCommit(state));
          const expected = states
            .filter((st) => f.service === undefined || st.plan.service === f.service)
            .filter((st) => f.statuses === undefined || f.statuses.includes(st.status))
            .sort((x, y) => y.createdAt - x.createdAt || (x.id < y.id ? 1 : -1))
            .slice(0, f.limit ?? Infinity);
          expect(await s.list(f)).toEqual(expected);
        }),
        { numRuns: 40 },
      );
    });
  });

  describe('history', () => {
    it('is empty for an unknown id', async () => {
      expect(await store.history('no-such-rollout')).toEqual([]);
    });

    it('appends a denial without changing the state', async () => {
      const state = aRolloutState().withStatus('baking').withVersion(3).build();
      await store.create(aCommit(state));
      const denied = aHistoryEntry(state, {
        input: 'denied',
        actor: 'U-intruder',
        detail: 'abort: not permitted',
      });

      await store.appendHistory(state.id, denied);

      expect(await store.get(state.id)).toEqual(state);
      expect((await store.history(state.id)).at(-1)).toEqual(denied);
      expect(await store.history(state.id)).toHaveLength(2);
    });

    it('refuses to append to an unknown rollout', async () => {
      const ghost = aRolloutState().build();
      await expect(store.appendHistory(ghost.id, aHistoryEntry(ghost))).rejects.toBeInstanceOf(
        RolloutNotFoundError,
      );
      expect(await store.history(ghost.id)).toEqual([]);
    });
  });

  describe('outbox', () => {
    it('orders pending effects by insertion across rollouts, never by version', async () => {
      const a0 = aRolloutState().withId('A').build();
      const b0 = aRolloutState().withId('B').build();
      const c0 = aRolloutState().withId('C').build();
      // C is new; A and B have moved on. C's effect was stored after theirs, so it comes after
      // them. In version order it went first: a new rollout's effects overtook an older one's,
      // and a page of low-version effects could starve a long-running rollout's for good.
      const a1 = nextVersion(a0);
      await store.create(aCommit(a0, [publish('a', 1), publish('a', 2)]));
      await store.create(aCommit(b0, [publish('b', 1)]));
      await store.commit(aCommit(a1, [publish('a', 3)]));
      await store.commit(aCommit(nextVersion(b0), [publish('b', 2)]));
      await store.create(aCommit(c0, [publish('c', 1)]));
      await store.commit(aCommit(nextVersion(a1), [publish('a', 4)]));

      const pending = await store.pendingEffects();
      expect(
        pending.map((p) => `${p.rolloutId}${p.version}:${(p.effect as { seq: number }).seq}`),
      ).toEqual(['A0:1', 'A0:2', 'B0:1', 'A1:3', 'B1:2', 'C0:1', 'A2:4']);
      const seqs = pending.map((p) => p.seq);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      expect(new Set(seqs).size).toBe(seqs.length);
    });

    it('pages by seq: at most `limit`, only after the given seq', async () => {
      const a0 = aRolloutState().withId('A').build();
      const b0 = aRolloutState().withId('B').build();
      await store.create(aCommit(a0, [publish('a', 1), publish('a', 2), publish('a', 3)]));
      await store.create(aCommit(b0, [publish('b', 1), publish('b', 2)]));
      const all = await store.pendingEffects();
      const ids = all.map((p) => p.id);

      expect((await store.pendingEffects(2)).map((p) => p.id)).toEqual(ids.slice(0, 2));
      expect((await store.pendingEffects(2, all[1]!.seq)).map((p) => p.id)).toEqual(
        ids.slice(2, 4),
      );
      expect((await store.pendingEffects(100, all[3]!.seq)).map((p) => p.id)).toEqual(ids.slice(4));
      expect(await store.pendingEffects(100, all[4]!.seq)).toEqual([]);
      await store.markEffectDone(all[2]!.id);
      expect((await store.pendingEffects(2, all[1]!.seq)).map((p) => p.id)).toEqual(
        ids.slice(3, 5),
      );
      expect(await store.pendingEffects(0)).toEqual([]);
    });

    it('lists an effect until it is marked done; marking is idempotent', async () => {
      const state = aRolloutState().build();
      const commit = aCommit(state, [publish('eu-west', 1), updateCard()]);
      await store.create(commit);
      const [first, second] = commit.effects;

      await store.markEffectDone(first!.id);
      expect((await store.pendingEffects()).map((p) => p.id)).toEqual([second!.id]);
      await store.markEffectDone(first!.id);
      await store.markEffectDone('never-existed');
      expect((await store.pendingEffects()).map((p) => p.id)).toEqual([second!.id]);
      await store.markEffectDone(second!.id);
      expect(await store.pendingEffects()).toEqual([]);
    });
  });
});

describe('RedisRolloutStore: records it cannot read', () => {
  let server: RedisServer;
  let redis: Redis;
  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
  });
  afterAll(async () => {
    await redis?.quit();
    await server?.stop();
  });

  it('reports corrupt JSON under a rollout key as CorruptRecordError naming the key', async () => {
    const store = new RedisRolloutStore(redis, { prefix: 'bad1:' });
    const state = aRolloutState().withId('broken').build();
    await store.create(aCommit(state));
    await redis.set('bad1:state:broken', '{"id": "broken", "version": 3, ');

    const read = store.get('broken');
    await expect(read).rejects.toBeInstanceOf(CorruptRecordError);
    await expect(read).rejects.toMatchObject({ code: 'corrupt_record', key: 'bad1:state:broken' });
    await expect(read).rejects.toThrow(/bad1:state:broken.*not JSON/);
    await expect(store.list()).rejects.toMatchObject({ key: 'bad1:state:broken' });
    await expect(store.commit(aCommit(nextVersion(state)))).rejects.toMatchObject({
      code: 'corrupt_record',
      key: 'bad1:state:broken',
    });
  });

  it('reports JSON of the wrong shape with what is wrong', async () => {
    const store = new RedisRolloutStore(redis, { prefix: 'bad2:' });
    const state = aRolloutState().withId('odd').build();
    await redis.set(
      'bad2:state:odd',
      JSON.stringify({ ...state, status: 'exploded', version: -1 }),
    );

    const read = store.get('odd');
    await expect(read).rejects.toMatchObject({ code: 'corrupt_record', key: 'bad2:state:odd' });
    await expect(read).rejects.toThrow(/status/);
  });

  it('reports a corrupt history entry naming the history key', async () => {
    const store = new RedisRolloutStore(redis, { prefix: 'bad3:' });
    const state = aRolloutState().withId('h').build();
    await store.create(aCommit(state));
    await redis.rpush('bad3:history:h', 'not json at all');
    await expect(store.history('h')).rejects.toMatchObject({
      code: 'corrupt_record',
      key: 'bad3:history:h',
    });
  });

  it('reports a corrupt summary naming its key, and leaves a corrupt state unfolded', async () => {
    const store = new RedisRolloutStore(redis, { prefix: 'bad4:' });
    await redis.set('bad4:summary:s', Buffer.from([1, 2, 3]));
    await expect(store.get('s')).rejects.toMatchObject({
      code: 'corrupt_record',
      key: 'bad4:summary:s',
    });
    await redis.set('bad4:summary:s', Buffer.from([9]));
    await expect(store.get('s')).rejects.toThrow(/bad4:summary:s.*format 9/);

    const state = aRolloutState().withId('c').build();
    await store.create(aCommit(state));
    await store.commit({
      ...aCommit(nextVersion(state, { status: 'aborted' })),
      retainForMs: 60_000,
      compactAfterMs: 1,
    });
    await redis.set('bad4:state:c', '{"id": "c", ', 'KEEPTTL');
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Not folded, and no longer due: a later fold is not stalled behind it.
    expect(await store.compactDue()).toBe(0);
    expect(await redis.zcard('bad4:idx:compact')).toBe(0);
    expect(await redis.get('bad4:state:c')).toBe('{"id": "c", ');
  });

  it('folds a rollout once when two replicas compact at the same time', async () => {
    const [a, b] = [0, 1].map(() => new RedisRolloutStore(redis, { prefix: 'twice:' }));
    const states = Array.from({ length: 5 }, () => aRolloutState().build());
    for (const state of states) {
      await a!.create(aCommit(state));
      await a!.commit({
        ...aCommit(nextVersion(state, { status: 'aborted' })),
        retainForMs: 60_000,
        compactAfterMs: 1,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    const folded = await Promise.all([a!.compactDue(), b!.compactDue(), a!.compactDue()]);
    expect(folded.reduce((x, y) => x + y, 0)).toBe(states.length);
    for (const state of states)
      expect(await b!.get(state.id)).toEqual(nextVersion(state, { status: 'aborted' }));
    expect(await redis.keys('twice:state:*')).toEqual([]);
    expect(await redis.keys('twice:summary:*')).toHaveLength(states.length);
  });

  it('refuses a client with an ioredis keyPrefix (its scripts build keys themselves)', () => {
    const prefixed = new Redis(server.url, { keyPrefix: 'x:', lazyConnect: true });
    expect(() => new RedisRolloutStore(prefixed)).toThrow(/keyPrefix/);
    prefixed.disconnect();
  });

  it('keeps its keys under the default prefix rollout:', async () => {
    await redis.flushall();
    const store = new RedisRolloutStore(redis);
    const state = aRolloutState().withId(aRolloutId('prefixed')).build();
    await store.create(aCommit(state, [updateCard()]));
    await store.markEffectDone('none');
    const keys = await redis.keys('*');
    expect(keys).toContain(`rollout:state:${state.id}`);
    expect(keys).toContain(`rollout:history:${state.id}`);
    expect(keys.every((k) => k.startsWith('rollout:'))).toBe(true);
  });
});

describe('RedisRolloutStore: an outbox written with version scores', () => {
  let server: RedisServer;
  let redis: Redis;
  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
  });
  afterAll(async () => {
    await redis?.quit();
    await server?.stop();
  });

  it('is read in insertion order after it is rescored once', async () => {
    const prefix = 'legacy:rollout:';
    const store = new RedisRolloutStore(redis, { prefix });
    const a0 = aRolloutState().withId('A').build();
    const b0 = aRolloutState().withId('B').build();
    await store.create(aCommit(nextVersion(nextVersion(a0)), [publish('a', 1)]));
    await store.create(aCommit(b0, [publish('b', 1)]));
    // As the store wrote them before: scored by version (A's 2 after B's 0).
    for (const member of await redis.zrange(`${prefix}outbox`, '0', '-1')) {
      await redis.zadd(`${prefix}outbox`, member.startsWith('0000000000000001') ? 2 : 0, member);
    }
    expect((await redis.zrange(`${prefix}outbox`, '0', '-1')).map((m) => m.slice(0, 16))).toEqual([
      '0000000000000002',
      '0000000000000001',
    ]);

    const pending = await store.pendingEffects();
    expect(pending.map((p) => [p.rolloutId, p.seq])).toEqual([
      ['A', 1],
      ['B', 2],
    ]);
    expect((await store.pendingEffects(10, 1)).map((p) => p.rolloutId)).toEqual(['B']);
  });
});
