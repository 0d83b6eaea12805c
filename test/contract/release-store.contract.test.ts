import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryReleaseStore } from '../../bot/adapters/memory-release-store.js';
import { RedisReleaseStore } from '../../bot/adapters/redis-release-store.js';
import { VersionConflictError } from '../../shared/errors.js';
import {
  ReleaseExistsError,
  ReleaseNotFoundError,
  type ReleaseStore,
} from '../../shared/ports/release-store.js';
import type { ReleaseEffect, ReleaseState } from '../../shared/release/state.js';
import { aReleaseState } from '../support/release-builders.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';

interface Harness {
  name: string;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  fresh(): ReleaseStore;
  /** How long the stored release still lives, in ms; undefined when it does not expire. */
  ttlOf(store: ReleaseStore, id: string): Promise<number | undefined>;
}

function memoryHarness(): Harness {
  let now = 1_000_000;
  return {
    name: 'MemoryReleaseStore',
    setup: async () => {},
    teardown: async () => {},
    fresh: () => new MemoryReleaseStore({ now: () => now }),
    // The memory store expires by its clock: move the clock and ask whether it is still there.
    async ttlOf(store, id) {
      const before = now;
      now += 60_000;
      const gone = (await store.get(id)) === undefined;
      now = before;
      return gone ? 60_000 : undefined;
    },
  };
}

function redisHarness(): Harness {
  let server: RedisServer | undefined;
  let redis: Redis | undefined;
  let n = 0;
  const prefixes = new WeakMap<ReleaseStore, string>();
  return {
    name: 'RedisReleaseStore',
    async setup() {
      server = await startRedis();
      redis = new Redis(server.url);
    },
    async teardown() {
      await redis?.quit();
      await server?.stop();
    },
    fresh: () => {
      const prefix = `t${n++}:release:`;
      const store = new RedisReleaseStore(redis!, { prefix });
      prefixes.set(store, prefix);
      return store;
    },
    async ttlOf(store, id) {
      const ttl = await redis!.pttl(`${prefixes.get(store)!}state:${id}`);
      return ttl < 0 ? undefined : ttl;
    },
  };
}

const line = (text: string): ReleaseEffect => ({ type: 'release_thread_line', text });
const next = (state: ReleaseState, change: Partial<ReleaseState> = {}): ReleaseState => ({
  ...state,
  ...change,
  version: state.version + 1,
});

for (const harness of [memoryHarness(), redisHarness()]) {
  describe(`ReleaseStore contract: ${harness.name}`, () => {
    beforeAll(() => harness.setup());
    afterAll(() => harness.teardown());

    it('stores a release and gives back copies', async () => {
      const store = harness.fresh();
      const release = aReleaseState('rel-a');
      await store.create({ state: release, effects: [] });
      const got = await store.get('rel-a');
      expect(got).toEqual(release);
      got!.members.payments!.state = 'running';
      expect((await store.get('rel-a'))!.members.payments!.state).toBe('waiting');
      expect(await store.get('rel-unknown')).toBeUndefined();
    });

    it('refuses a second release with the same id, and a commit of an unknown one', async () => {
      const store = harness.fresh();
      await store.create({ state: aReleaseState('rel-a'), effects: [] });
      await expect(store.create({ state: aReleaseState('rel-a'), effects: [] })).rejects.toThrow(
        ReleaseExistsError,
      );
      await expect(
        store.commit({ state: next(aReleaseState('rel-b')), effects: [] }),
      ).rejects.toThrow(ReleaseNotFoundError);
    });

    it('lets exactly one of two commits from the same version win', async () => {
      const store = harness.fresh();
      const base = aReleaseState('rel-a');
      await store.create({ state: base, effects: [] });
      const results = await Promise.allSettled([
        store.commit({
          state: next(base, { status: 'running' }),
          effects: [{ id: 'e1', effect: line('one') }],
        }),
        store.commit({
          state: next(base, { status: 'paused' }),
          effects: [{ id: 'e2', effect: line('two') }],
        }),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(lost.reason).toBeInstanceOf(VersionConflictError);
      // The loser's effects were not written.
      expect((await store.pendingEffects()).map((e) => e.id)).toHaveLength(1);
      await expect(store.commit({ state: next(base), effects: [] })).rejects.toThrow(
        VersionConflictError,
      );
    });

    it('keeps the outbox in insertion order across releases until each effect is marked done', async () => {
      const store = harness.fresh();
      const a = aReleaseState('rel-a');
      const b = aReleaseState('rel-b');
      await store.create({ state: a, effects: [{ id: 'a1', effect: line('a1') }] });
      await store.create({ state: b, effects: [{ id: 'b1', effect: line('b1') }] });
      await store.commit({
        state: next(a),
        effects: [
          {
            id: 'a2',
            effect: {
              type: 'start_member',
              service: 'payments',
              rolloutId: 'rel-a-payments',
              version: '2.0.0',
            },
          },
          { id: 'a3', effect: { type: 'release_card' } },
        ],
      });
      const pending = await store.pendingEffects();
      expect(pending.map((e) => [e.id, e.releaseId, e.version])).toEqual([
        ['a1', 'rel-a', 0],
        ['b1', 'rel-b', 0],
        ['a2', 'rel-a', 1],
        ['a3', 'rel-a', 1],
      ]);
      expect(pending.map((e) => e.seq)).toEqual(
        [...pending.map((e) => e.seq)].sort((x, y) => x - y),
      );
      expect(pending[2]!.effect).toEqual({
        type: 'start_member',
        service: 'payments',
        rolloutId: 'rel-a-payments',
        version: '2.0.0',
      });
      expect(await store.pendingEffects(2)).toHaveLength(2);
      await store.markEffectDone('a1');
      await store.markEffectDone('a1');
      await store.markEffectDone('never-stored');
      expect((await store.pendingEffects()).map((e) => e.id)).toEqual(['b1', 'a2', 'a3']);
    });

    it('lists releases not ended, newest first; an ended one leaves the list and expires', async () => {
      const store = harness.fresh();
      const old = aReleaseState('rel-old', 1_000);
      await store.create({ state: old, effects: [] });
      await store.create({ state: aReleaseState('rel-new', 2_000), effects: [] });
      expect((await store.active()).map((r) => r.id)).toEqual(['rel-new', 'rel-old']);
      await store.commit({
        state: next(old, { status: 'succeeded' }),
        effects: [],
        retainForMs: 60_000,
      });
      expect((await store.active()).map((r) => r.id)).toEqual(['rel-new']);
      expect((await store.get('rel-old'))?.status).toBe('succeeded');
      const ttl = await harness.ttlOf(store, 'rel-old');
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000);
      expect(await harness.ttlOf(store, 'rel-new')).toBeUndefined();
    });
  });
}
