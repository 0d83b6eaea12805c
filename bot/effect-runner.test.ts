import { describe, expect, it } from 'vitest';
import type { Command } from '../shared/contracts/commands.js';
import { silentLogger } from '../shared/log.js';
import type { CommandBus } from '../shared/ports/buses.js';
import type { Effect } from '../shared/rollout/state.js';
import { randomUUID } from 'node:crypto';
import { aCommit, aHistoryEntry, aRolloutState } from '../test/support/state-builders.js';
import { MemoryGateScheduler } from './adapters/memory-gate-scheduler.js';
import { MemoryOnceClaims } from './adapters/memory-once-claims.js';
import { MemoryRolloutStore } from './adapters/memory-rollout-store.js';
import { MemoryServiceLocks } from './adapters/memory-service-locks.js';
import { RecordingNotifier } from './adapters/recording-notifier.js';
import { EffectRunner } from './effect-runner.js';

class RecordingCommandBus implements CommandBus {
  readonly published: Command[] = [];
  failNext = 0;
  async publish(command: Command): Promise<void> {
    if (this.failNext-- > 0) throw new Error('broker unavailable');
    this.published.push(command);
  }
  async subscribe(): Promise<never> {
    throw new Error('not used');
  }
}

const clock = { now: () => Date.parse('2026-11-22T10:00:00Z') };

function setUp(store = new MemoryRolloutStore(), claims = new MemoryOnceClaims(clock)) {
  const commands = new RecordingCommandBus();
  const notifier = new RecordingNotifier();
  const runner = new EffectRunner({
    store,
    commands,
    scheduler: new MemoryGateScheduler(),
    notifier,
    locks: new MemoryServiceLocks(),
    claims,
    clock,
    logger: silentLogger,
  });
  return { store, commands, notifier, runner };
}

function setWeight(cluster: string, seq: number): Effect {
  return {
    type: 'publish_command',
    cluster,
    seq,
    command: { type: 'set_weight', payload: { service: 'checkout', stageIndex: 0, weight: 5 } },
  };
}

describe('EffectRunner', () => {
  it('replays what a crashed bot left in the outbox, in order, with the stored id as the message id', async () => {
    const { store, commands, runner } = setUp();
    const state = aRolloutState().withVersion(1).build();
    const ids = [randomUUID(), randomUUID()];
    await store.create({
      state,
      effects: [
        { id: ids[0]!, effect: setWeight('eu-west', 1) },
        { id: ids[1]!, effect: setWeight('eu-west', 2) },
      ],
      history: aHistoryEntry(state),
    });

    await runner.drain();

    expect(commands.published.map((c) => [c.id, c.seq, c.rolloutId, c.cluster])).toEqual([
      [ids[0], 1, state.id, 'eu-west'],
      [ids[1], 2, state.id, 'eu-west'],
    ]);
    expect(await store.pendingEffects()).toEqual([]);
  });

  it('keeps a failed effect and everything after it for that rollout in the outbox', async () => {
    const { store, commands, runner } = setUp();
    const state = aRolloutState().withVersion(1).build();
    await store.create(aCommit(state, [setWeight('eu-west', 1), setWeight('eu-west', 2)]));
    commands.failNext = 1;

    await runner.drain();

    expect(commands.published).toEqual([]);
    expect((await store.pendingEffects()).map((p) => (p.effect as { seq: number }).seq)).toEqual([
      1, 2,
    ]);
  });

  it('carries out each effect once when two replicas drain the same outbox', async () => {
    const store = new MemoryRolloutStore();
    const claims = new MemoryOnceClaims(clock);
    const a = setUp(store, claims);
    const b = setUp(store, claims);
    const state = aRolloutState().withVersion(1).build();
    await store.create(
      aCommit(state, [{ type: 'notify', kind: 'rolled_back', message: 'rolled back' }]),
    );

    await Promise.all([a.runner.drain(), b.runner.drain()]);

    expect([...a.notifier.alerts(), ...b.notifier.alerts()]).toHaveLength(1);
  });
});
