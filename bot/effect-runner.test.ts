import { describe, expect, it, vi } from 'vitest';
import { MemoryTopicBroker } from '../shared/adapters/memory-topic-broker.js';
import { TopicCommandBus } from '../shared/messaging/topic-command-bus.js';
import type { Command } from '../shared/contracts/commands.js';
import { silentLogger } from '../shared/log.js';
import type { CommandBus } from '../shared/ports/buses.js';
import type { Effect } from '../shared/rollout/state.js';
import { randomUUID } from 'node:crypto';
import {
  aCommit,
  aHistoryEntry,
  aRolloutState,
  nextVersion,
} from '../test/support/state-builders.js';
import { waitFor } from '../test/support/wait-for.js';
import { MemoryGateScheduler } from './adapters/memory-gate-scheduler.js';
import { MemoryOnceClaims } from './adapters/memory-once-claims.js';
import { MemoryRolloutStore } from './adapters/memory-rollout-store.js';
import { MemoryServiceLocks } from './adapters/memory-service-locks.js';
import { RecordingNotifier } from './adapters/recording-notifier.js';
import { EffectRunner } from './effect-runner.js';

class RecordingCommandBus implements CommandBus {
  readonly published: Command[] = [];
  failNext = 0;
  /** Commands of these rollouts fail, as while their partition's leader is down. */
  readonly failing = new Set<string>();
  /** Sends to these clusters wait until released, as kafkajs retrying a leaderless partition. */
  private readonly hanging = new Map<string, Promise<void>>();
  /** Makes every send to `cluster` hang from now on; the function lets them (and later ones) go. */
  hangSendsTo(cluster: string): () => void {
    let release: () => void = () => {};
    this.hanging.set(cluster, new Promise<void>((resolve) => (release = resolve)));
    return release;
  }
  async publish(command: Command): Promise<void> {
    await this.hanging.get(command.cluster);
    if (this.failNext-- > 0) throw new Error('broker unavailable');
    if (this.failing.has(command.rolloutId ?? '')) throw new Error('leader not available');
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
  return { store, commands, notifier, runner, claims };
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

  it('tells the notifier a transition with no history line is unrecorded, not a creation', async () => {
    const { store, notifier, runner } = setUp();
    const v0 = aRolloutState().build();
    await store.create(aCommit(v0, [{ type: 'update_card' }], { input: 'create' }));
    const { history: _none, ...quiet } = aCommit(nextVersion(v0), [{ type: 'update_card' }]);
    await store.commit(quiet);
    await runner.drain();
    expect(notifier.notices.map((n) => (n.type === 'changed' ? n.cause.input : n.type))).toEqual([
      'create',
      'unrecorded',
    ]);
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

  it('pages past a rollout whose effects are blocked: another rollout stored after 150 of them still runs', async () => {
    const { store, commands, runner } = setUp();
    const stuck = aRolloutState().withVersion(1).build();
    const other = aRolloutState().withVersion(1).build();
    const many = Array.from({ length: 150 }, (_, i) => setWeight('eu-west', i + 1));
    await store.create(aCommit(stuck, many));
    await store.create(aCommit(other, [setWeight('eu-west', 1)]));
    commands.failing.add(stuck.id);

    await runner.drain();

    expect(commands.published.map((c) => c.rolloutId)).toEqual([other.id]);
    expect(await store.pendingEffects(1_000)).toHaveLength(150);
  });

  it('frees the claim of an effect that failed, so the next drain retries it at once', async () => {
    const { store, commands, runner } = setUp();
    const state = aRolloutState().withVersion(1).build();
    await store.create(aCommit(state, [setWeight('eu-west', 1)]));
    commands.failNext = 1;

    await runner.drain(); // fails; the clock does not move
    await runner.drain();

    expect(commands.published.map((c) => c.seq)).toEqual([1]);
    expect(await store.pendingEffects()).toEqual([]);
  });

  it('drops a command that fails validation, raises an alert naming the rollout and why, and runs the rollout’s later effects', async () => {
    const { store, commands, notifier, runner } = setUp();
    const state = aRolloutState().withVersion(1).build();
    const tooLong = `c${'x'.repeat(70)}`; // no cluster name is this long
    await store.create(
      aCommit(state, [setWeight(tooLong, 1), { type: 'update_card' }, setWeight('eu-west', 2)]),
    );

    await runner.drain();
    await runner.drain();

    expect(await store.pendingEffects()).toEqual([]);
    expect(commands.published.map((c) => [c.cluster, c.seq])).toEqual([['eu-west', 2]]);
    const alerts = notifier.alerts(state.id);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.kind).toBe('rollout_stuck');
    expect(alerts[0]!.message).toContain(
      `Rollout ${state.id} could not send its set_weight command`,
    );
    expect(alerts[0]!.message).toMatch(/the command is invalid \(.*cluster/s);
  });

  it('keeps an invalid command and tries again later when the alert cannot be sent', async () => {
    const { store, notifier, runner } = setUp();
    const state = aRolloutState().withVersion(1).build();
    await store.create(aCommit(state, [setWeight(`c${'x'.repeat(70)}`, 1)]));
    const alert = notifier.alert.bind(notifier);
    let down = true;
    notifier.alert = async (...args) => {
      if (down) throw new Error('slack unavailable');
      return alert(...args);
    };

    await runner.drain();
    expect(await store.pendingEffects()).toHaveLength(1);
    down = false;
    await runner.drain();
    expect(await store.pendingEffects()).toEqual([]);
    expect(notifier.alerts(state.id)).toHaveLength(1);
  });

  it('does not hold back a rollout’s later command while its alert is still being delivered', async () => {
    const { store, commands, notifier, runner } = setUp();
    const state = aRolloutState().withVersion(1).build();
    const notify: Effect = { type: 'notify', kind: 'rolled_back', message: 'rolled back' };
    await store.create(aCommit(state, [notify, setWeight('eu-west', 1)]));
    const alert = notifier.alert.bind(notifier);
    let deliver!: () => void;
    notifier.alert = (...args) =>
      new Promise<void>((resolve) => (deliver = resolve)).then(() => alert(...args));

    await runner.drain();
    expect(commands.published.map((c) => c.seq)).toEqual([1]);
    expect((await store.pendingEffects()).map((p) => p.effect.type)).toEqual(['notify']);
    await runner.drain(); // a later pass skips the alert on its way rather than sending it twice

    deliver();
    await runner.idle();
    expect(notifier.alerts(state.id)).toHaveLength(1);
    expect(await store.pendingEffects()).toEqual([]);
  });

  it('keeps an alert that was not delivered in the outbox, and the next drain delivers it', async () => {
    const { store, notifier, runner } = setUp();
    const state = aRolloutState().withVersion(1).build();
    await store.create(
      aCommit(state, [{ type: 'notify', kind: 'rolled_back', message: 'rolled back' }]),
    );
    const alert = notifier.alert.bind(notifier);
    let down = true;
    notifier.alert = async (...args) => {
      if (down) throw new Error('Slack postMessage given up');
      return alert(...args);
    };

    await runner.drain();
    await runner.idle();
    expect(await store.pendingEffects()).toHaveLength(1);
    down = false;
    await runner.drain(); // the claim was released: no waiting out its time-to-live
    await runner.idle();
    expect(notifier.alerts(state.id)).toHaveLength(1);
    expect(await store.pendingEffects()).toEqual([]);
  });

  it('delivers, after a restart, an alert a crashed bot had not delivered', async () => {
    const moving = { t: clock.now(), now: () => moving.t };
    const store = new MemoryRolloutStore();
    const claims = new MemoryOnceClaims(moving);
    const crashed = setUp(store, claims);
    const state = aRolloutState().withVersion(1).build();
    await store.create(
      aCommit(state, [{ type: 'notify', kind: 'rolled_back', message: 'rolled back' }]),
    );
    crashed.notifier.alert = () => new Promise<void>(() => undefined); // queued, never sent
    await crashed.runner.drain();
    expect(await store.pendingEffects()).toHaveLength(1);

    moving.t += 15_000; // the dead replica's effect claim runs out
    const restarted = setUp(store, claims);
    await restarted.runner.drain();
    await restarted.runner.idle();

    expect(restarted.notifier.alerts(state.id)).toHaveLength(1);
    expect(await store.pendingEffects()).toEqual([]);
  });

  it('publishes the commands of a rollout of a service with a 63-character name', async () => {
    const broker = new MemoryTopicBroker();
    const bus = new TopicCommandBus(broker);
    const store = new MemoryRolloutStore();
    const runner = new EffectRunner({
      store,
      commands: bus,
      scheduler: new MemoryGateScheduler(),
      notifier: new RecordingNotifier(),
      locks: new MemoryServiceLocks(),
      claims: new MemoryOnceClaims(clock),
      clock,
      logger: silentLogger,
    });
    const service = `s${'v'.repeat(61)}e`;
    const state = aRolloutState().withService(service).withId(`${service}-3f9a1c`).build();
    await store.create(aCommit(state, [setWeight('eu-west', 1)]));
    const received: Command[] = [];
    const subscription = await bus.subscribe('eu-west', async (c) => {
      received.push(c);
    });

    await runner.drain();
    await vi.waitFor(() => expect(received).toHaveLength(1));
    await subscription.stop();
    await broker.close();

    expect(received[0]!.rolloutId).toBe(state.id);
    expect(await store.pendingEffects()).toEqual([]);
  });
});

describe('EffectRunner: rollbacks first, each cluster on its own', () => {
  function rollback(cluster: string, seq: number): Effect {
    return {
      type: 'publish_command',
      cluster,
      seq,
      command: { type: 'rollback', payload: { service: 'checkout', reason: 'gate breached' } },
    };
  }

  it('publishes the other clusters’ rollbacks while one cluster’s publish keeps failing, and later commands to that cluster wait', async () => {
    const { store, commands, runner } = setUp();
    const failingCluster = 'us-east';
    const bus = commands as RecordingCommandBus & { publish(c: Command): Promise<void> };
    const publish = bus.publish.bind(bus);
    bus.publish = async (command) => {
      if (command.cluster === failingCluster) throw new Error('leader not available');
      return publish(command);
    };
    const state = aRolloutState().withVersion(1).build();
    await store.create(
      aCommit(state, [
        rollback('us-east', 1),
        rollback('eu-west', 2),
        rollback('ap-south', 3),
        { type: 'cancel_gates' },
        { type: 'update_card' },
      ]),
    );
    await store.create(aCommit(aRolloutState().withVersion(1).build(), []));

    await runner.drain();

    expect(commands.published.map((c) => `${c.cluster} ${c.type}`)).toEqual([
      'eu-west rollback',
      'ap-south rollback',
    ]);
    expect((await store.pendingEffects()).map((p) => p.effect.type)).toEqual(['publish_command']);
  });

  it('does not wait for a publish that hangs on one cluster before publishing to the others', async () => {
    const { store, commands, runner } = setUp();
    const release = commands.hangSendsTo('us-east');
    const state = aRolloutState().withVersion(1).build();
    await store.create(aCommit(state, [rollback('us-east', 1), rollback('eu-west', 2)]));

    const drained = runner.drain();
    await waitFor(() => commands.published.some((c) => c.cluster === 'eu-west'), {
      what: 'eu-west’s rollback while us-east’s publish hangs',
    });
    expect(commands.published.map((c) => c.cluster)).toEqual(['eu-west']);
    release();
    await drained;
    expect(commands.published.map((c) => c.cluster)).toEqual(['eu-west', 'us-east']);
  });

  it('keeps a lane blocked for the rest of the pass: its first command failing holds back all 150 after it, across pages', async () => {
    const { store, commands, runner } = setUp();
    const state = aRolloutState().withVersion(1).build();
    await store.create(
      aCommit(
        state,
        Array.from({ length: 151 }, (_, i) => setWeight('eu-west', i + 1)),
      ),
    );
    commands.failNext = 1;

    await runner.drain();

    expect(commands.published).toEqual([]);
    expect(await store.pendingEffects(1_000)).toHaveLength(151);
  });

  it('sends every other cluster’s rollback while 150 rollouts’ sends to one cluster hang', async () => {
    const { store, commands, runner } = setUp();
    const release = commands.hangSendsTo('us-east');
    for (let i = 0; i < 150; i++)
      await store.create(
        aCommit(aRolloutState().withVersion(1).build(), [
          rollback('us-east', 1),
          rollback('eu-west', 2),
          rollback('ap-south', 3),
        ]),
      );

    const drained = runner.drain();
    await waitFor(() => commands.published.length === 300, {
      what: 'the eu-west and ap-south rollbacks while every us-east send hangs',
    });
    expect(commands.published.some((c) => c.cluster === 'us-east')).toBe(false);
    release();
    await drained;
    expect(commands.published).toHaveLength(450);
  });

  it('does not end a pass whose next page cannot be read before the effects it started have ended', async () => {
    const { store, commands, runner } = setUp();
    const release = commands.hangSendsTo('us-east');
    for (let i = 0; i < 120; i++)
      await store.create(aCommit(aRolloutState().withVersion(1).build(), [rollback('us-east', 1)]));
    const read = store.pendingEffects.bind(store);
    let reads = 0;
    store.pendingEffects = async (...args) => {
      if (++reads === 2) throw new Error('Connection is closed');
      return read(...args);
    };

    let ended = false;
    const drained = runner.drain().then(
      () => (ended = true),
      () => (ended = true),
    );
    await waitFor(() => reads >= 2, { what: 'the second page read' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(ended).toBe(false);
    release();
    await drained;
    expect(ended).toBe(true);
    expect(commands.published).toHaveLength(100);
  });

  it('runs effects of later pages while one of an earlier page hangs (pages do not wait for each other)', async () => {
    const { store, commands, runner } = setUp();
    const release = commands.hangSendsTo('us-east');
    await store.create(aCommit(aRolloutState().withVersion(1).build(), [rollback('us-east', 1)]));
    // 250 more rollouts: three more pages behind the first one's hanging publish.
    for (let i = 0; i < 250; i++)
      await store.create(aCommit(aRolloutState().withVersion(1).build(), [rollback('eu-west', 1)]));

    const drained = runner.drain();
    await waitFor(() => commands.published.length === 250, {
      what: 'every later page published while the first page’s us-east publish hangs',
    });
    release();
    await drained;
    expect(commands.published).toHaveLength(251);
    expect(await store.pendingEffects()).toEqual([]);
  });

  it('keeps a lane in order across pages and many at once: 300 commands to one cluster go out 1..300', async () => {
    const { store, commands, runner } = setUp();
    const publish = commands.publish.bind(commands);
    // Sends that finish in a scrambled order, as a loaded broker does.
    commands.publish = async (command) => {
      await new Promise((resolve) => setTimeout(resolve, (command.seq * 7) % 5));
      return publish(command);
    };
    const state = aRolloutState().withVersion(1).build();
    const other = aRolloutState().withVersion(1).build();
    await store.create(
      aCommit(
        state,
        Array.from({ length: 300 }, (_, i) => setWeight('eu-west', i + 1)),
      ),
    );
    await store.create(aCommit(other, [setWeight('eu-west', 1), setWeight('us-east', 2)]));

    await runner.drain();

    const seqs = commands.published.filter((c) => c.rolloutId === state.id).map((c) => c.seq);
    expect(seqs).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(commands.published.filter((c) => c.rolloutId === other.id)).toHaveLength(2);
  });

  it('does not let failing housekeeping hold up the rollback commands', async () => {
    const store = new MemoryRolloutStore();
    const { commands, runner } = setUp(store);
    const state = aRolloutState().withVersion(1).build();
    // A gate scheduler that cannot be reached (Redis blip) fails cancel_gates.
    const scheduler = (runner as unknown as { deps: { scheduler: { cancel: unknown } } }).deps
      .scheduler;
    scheduler.cancel = async () => {
      throw new Error('Connection is closed');
    };
    await store.create(
      aCommit(state, [{ type: 'cancel_gates' }, rollback('eu-west', 1), rollback('us-east', 2)]),
    );

    await runner.drain();

    expect(commands.published.map((c) => c.cluster)).toEqual(['eu-west', 'us-east']);
    expect((await store.pendingEffects()).map((p) => p.effect.type)).toEqual(['cancel_gates']);
  });
});
