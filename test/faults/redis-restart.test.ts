import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisRolloutStore } from '../../bot/adapters/redis-rollout-store.js';
import type { Effect } from '../../shared/rollout/state.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';
import { aCommit, aRolloutState, nextVersion } from '../support/state-builders.js';

/**
 * The outbox promise across a Redis restart: a transition that was acknowledged (state, effects
 * and history committed) is all still there afterwards, with append-only persistence on.
 */
describe('RedisRolloutStore across a Redis restart', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis({ appendOnly: true });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('reads back the same state, pending effects and history after the server restarts', async () => {
    const writer = new Redis(server.url);
    const store = new RedisRolloutStore(writer);
    const v0 = aRolloutState().withId('checkout-restart').build();
    const v1 = nextVersion(v0, { status: 'progressing', seq: 1 });
    const effects: Effect[] = [
      {
        type: 'publish_command',
        cluster: 'eu-west',
        seq: 1,
        command: { type: 'set_weight', payload: { service: 'checkout', stageIndex: 0, weight: 5 } },
      },
      { type: 'update_card' },
    ];
    await store.create(aCommit(v0, [{ type: 'update_card' }]));
    const transition = aCommit(v1, effects, { input: 'start' });
    await store.commit(transition);
    const before = {
      state: await store.get(v0.id),
      effects: await store.pendingEffects(),
      history: await store.history(v0.id),
    };
    expect(before.state).toEqual(v1);
    expect(before.effects).toHaveLength(3);

    await server.restart();

    // A new connection, so nothing can come from a client-side buffer; the old one reconnects.
    const reader = new Redis(server.url);
    const reopened = new RedisRolloutStore(reader);
    try {
      expect(await reopened.get(v0.id)).toEqual(v1);
      expect(await reopened.pendingEffects()).toEqual(before.effects);
      expect(await reopened.history(v0.id)).toEqual(before.history);
      expect((await reopened.history(v0.id)).map((h) => h.input)).toEqual(['create', 'start']);
      // Scripts are gone from the restarted server: writes still work (EVALSHA falls back to EVAL),
      // and the version check still holds against the persisted state.
      await expect(reopened.commit(transition)).rejects.toMatchObject({ code: 'version_conflict' });
      await store.commit(aCommit(nextVersion(v1, { status: 'baking' })));
      expect((await reopened.get(v0.id))?.status).toBe('baking');
    } finally {
      await reader.quit();
      await writer.quit();
    }
  });
});
