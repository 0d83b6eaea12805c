import { describe, expect, it } from 'vitest';
import type { RolloutEvent } from '../shared/contracts/events.js';
import { silentLogger } from '../shared/log.js';
import { FakeClock, RolloutScript } from '../test/support/agent-harness.js';
import { CommandApplier, type RetryPolicy } from './command-applier.js';
import { EventFactory } from './event-factory.js';
import { RolloutTable } from './rollout-table.js';
import { RouterError } from './routers/router-error.js';
import { SimulatedRouter } from './routers/simulated-router.js';
import type { TrafficRouter } from './routers/traffic-router.js';
import { SimulatedCluster } from './simulation/simulated-cluster.js';

/**
 * The applier on its own, with a router whose rollback fails a given number of times and a sleep
 * that only records how long it was asked to wait: retries are checked without waiting for them.
 */
function applierWith(options: {
  rollbackFailures: number;
  retry?: RetryPolicy;
  /** The cluster of an earlier applier: a new one on it is that agent restarted. */
  cluster?: SimulatedCluster;
}) {
  const cluster =
    options.cluster ??
    new SimulatedCluster({
      name: 'eu-west',
      services: { checkout: { stableVersion: '2.4.0' } },
    });
  const inner = new SimulatedRouter(cluster);
  let failuresLeft = options.rollbackFailures;
  const calls = { rollback: 0 };
  const router: TrafficRouter = {
    read: (service) => inner.read(service),
    setWeight: (t, w, m) => inner.setWeight(t, w, m),
    promote: (t, m) => inner.promote(t, m),
    rollback: async (t, m) => {
      calls.rollback++;
      if (failuresLeft > 0) {
        failuresLeft--;
        throw new RouterError(
          'router_unavailable',
          'cannot patch HTTPRoute shop/checkout: API server answered 503',
        );
      }
      return inner.rollback(t, m);
    },
  };
  const published: RolloutEvent[] = [];
  const sleeps: number[] = [];
  const applier = new CommandApplier({
    cluster: 'eu-west',
    router,
    events: {
      publish: async (event) => {
        published.push(event);
      },
      subscribe: async () => ({ stop: async () => {} }),
    },
    envelopes: new EventFactory('eu-west', new FakeClock()),
    table: new RolloutTable(),
    logger: silentLogger,
    ...(options.retry !== undefined && { rollbackRetry: options.retry }),
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
  return { applier, cluster, calls, published, sleeps };
}

const RETRY: RetryPolicy = { attempts: 5, initialDelayMs: 100, maxDelayMs: 300 };

describe('CommandApplier: rollback retries', () => {
  it('tries a failing rollback again with capped backoff, and answers rolled_back once it works', async () => {
    const { applier, cluster, calls, published, sleeps } = applierWith({
      rollbackFailures: 3,
      retry: RETRY,
    });
    const script = new RolloutScript();
    for (const command of [script.start(), script.setWeight(0, 25), script.rollback()]) {
      await applier.handle(command);
    }
    expect(calls.rollback).toBe(4);
    expect(sleeps).toEqual([100, 200, 300]);
    expect(published.map((e) => e.type)).toEqual(['stage_applied', 'rolled_back']);
    expect(cluster.route('checkout')).toMatchObject({ canaryWeight: 0, stableVersion: '2.4.0' });
  });

  it('after the last try, answers command_failed with the router’s reason and how often it tried', async () => {
    const { applier, calls, published, sleeps } = applierWith({
      rollbackFailures: 99,
      retry: RETRY,
    });
    const script = new RolloutScript();
    await applier.handle(script.start());
    await applier.handle(script.setWeight(0, 25));
    const rollback = script.rollback();
    await applier.handle(rollback);
    expect(calls.rollback).toBe(5);
    expect(sleeps).toEqual([100, 200, 300, 300]);
    const failed = published.at(-1)!;
    expect(failed).toMatchObject({
      type: 'command_failed',
      seq: rollback.seq,
      payload: {
        commandId: rollback.id,
        commandType: 'rollback',
        reason: 'cannot patch HTTPRoute shop/checkout: API server answered 503 (tried 5 times)',
      },
    });

    // The bot sends the rollback again with a new seq: the agent tries again from the start.
    await applier.handle(script.rollback());
    expect(calls.rollback).toBe(10);
  });

  it('by default tries five times over a few seconds', async () => {
    const { applier, calls, sleeps } = applierWith({ rollbackFailures: 99 });
    const script = new RolloutScript();
    for (const command of [script.start(), script.setWeight(0, 25), script.rollback()]) {
      await applier.handle(command);
    }
    expect(calls.rollback).toBe(5);
    expect(sleeps).toEqual([250, 500, 1_000, 2_000]);
  });

  it('does not retry other commands: a failing set_weight is answered at once', async () => {
    const { applier, cluster, published, sleeps } = applierWith({ rollbackFailures: 0 });
    const script = new RolloutScript();
    await applier.handle(script.start());
    cluster.injectFault({ routerFailure: ['setWeight'] });
    await applier.handle(script.setWeight(0, 25));
    expect(sleeps).toEqual([]);
    expect(published.map((e) => e.type)).toEqual(['command_failed']);
  });

  it('refuses a retry policy that cannot work, naming it', () => {
    expect(() =>
      applierWith({
        rollbackFailures: 0,
        retry: { attempts: 0, initialDelayMs: 1, maxDelayMs: 1 },
      }),
    ).toThrow(/rollbackRetry needs attempts ≥ 1/);
  });
});

describe('CommandApplier: fencing', () => {
  it('refuses every command of an older rollout once a newer one wrote the route: no router write, no answer', async () => {
    const { applier, cluster, published } = applierWith({ rollbackFailures: 0, retry: RETRY });
    const older = new RolloutScript('rollout-old', 'eu-west', 'checkout', '2.4.1', '2.4.0', 10);
    const newer = new RolloutScript('rollout-new', 'eu-west', 'checkout', '2.5.0', '2.4.0', 11);
    const replay = [older.start(), older.setWeight(0, 25), older.promote()];
    await applier.handle(newer.start());
    await applier.handle(newer.setWeight(0, 5));
    const writes = cluster.routeWrites().length;
    const answers = published.length;

    for (const command of [...replay, older.rollback()]) await applier.handle(command);

    expect(cluster.routeWrites()).toHaveLength(writes);
    expect(published).toHaveLength(answers);
    expect(cluster.route('checkout')).toMatchObject({ canaryVersion: '2.5.0', canaryWeight: 5 });
  });

  it('a fresh applier (a restart) learns the fence from the route and refuses the older rollout too', async () => {
    const first = applierWith({ rollbackFailures: 0, retry: RETRY });
    const newer = new RolloutScript('rollout-new', 'eu-west', 'checkout', '2.5.0', '2.4.0', 11);
    await first.applier.handle(newer.start());
    await first.applier.handle(newer.setWeight(0, 25));
    const restarted = applierWith({ rollbackFailures: 0, retry: RETRY, cluster: first.cluster });
    const writes = first.cluster.routeWrites().length;
    const older = new RolloutScript('rollout-old', 'eu-west', 'checkout', '2.4.1', '2.4.0', 10);
    for (const command of [older.start(), older.setWeight(0, 100), older.rollback()]) {
      await restarted.applier.handle(command);
    }
    expect(first.cluster.routeWrites()).toHaveLength(writes);
    expect(restarted.published).toEqual([]);
    expect(first.cluster.route('checkout')).toMatchObject({ canaryWeight: 25 });
  });
});
