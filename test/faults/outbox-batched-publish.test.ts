/**
 * The outbox over a real Kafka protocol broker (librdkafka's mock): a page's command lanes are
 * published side by side and each rollout's commands still arrive in order per cluster; a send the
 * broker refuses holds only its own lane (its later command waits, the other lanes go on), and the
 * next drain publishes it in order. Tests in this file run one after another on one mock cluster.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { KafkaTopicBroker } from '../../shared/adapters/kafka-topic-broker.js';
import type { Command } from '../../shared/contracts/commands.js';
import { TopicCommandBus } from '../../shared/messaging/topic-command-bus.js';
import type { Effect } from '../../shared/rollout/state.js';
import { MemoryGateScheduler } from '../../bot/adapters/memory-gate-scheduler.js';
import { MemoryOnceClaims } from '../../bot/adapters/memory-once-claims.js';
import { MemoryRolloutStore } from '../../bot/adapters/memory-rollout-store.js';
import { MemoryServiceLocks } from '../../bot/adapters/memory-service-locks.js';
import { RecordingNotifier } from '../../bot/adapters/recording-notifier.js';
import { EffectRunner } from '../../bot/effect-runner.js';
import { silentLogger } from '../../shared/log.js';
import { startKafkaBroker, type KafkaTestBroker } from '../support/kafka-broker.js';
import { aCommit, aRolloutState } from '../support/state-builders.js';
import { testKafkaClient } from '../support/topic-brokers.js';
import { waitFor } from '../support/wait-for.js';

/** Kafka protocol API key and a non-retriable error code (kafkajs gives up at once). */
const PRODUCE = 0;
const TOPIC_AUTHORIZATION_FAILED = 29;

let kafka: KafkaTestBroker;
const clients: KafkaTopicBroker[] = [];
function client(id: string): KafkaTopicBroker {
  const broker = testKafkaClient(kafka.bootstrap, id);
  clients.push(broker);
  return broker;
}

beforeAll(async () => {
  kafka = await startKafkaBroker({ brokers: 1 });
});
afterEach(async () => {
  await kafka.clearErrors();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await kafka?.stop();
});

const clock = { now: () => Date.now() };

function setWeight(cluster: string, seq: number, weight: number): Effect {
  return {
    type: 'publish_command',
    cluster,
    seq,
    command: { type: 'set_weight', payload: { service: 'checkout', stageIndex: seq, weight } },
  };
}

function outbox(broker: KafkaTopicBroker) {
  const store = new MemoryRolloutStore();
  const runner = new EffectRunner({
    store,
    commands: new TopicCommandBus(broker),
    scheduler: new MemoryGateScheduler(),
    notifier: new RecordingNotifier(),
    locks: new MemoryServiceLocks(),
    claims: new MemoryOnceClaims(clock),
    clock,
    logger: silentLogger,
  });
  return { store, runner };
}

/** Everything on the clusters' command topics, read by a fresh group. */
async function consume(clusters: string[], count: number): Promise<Command[]> {
  const seen: Command[] = [];
  const bus = new TopicCommandBus(client(`reader-${randomUUID()}`));
  const subscriptions = await Promise.all(
    clusters.map((cluster) =>
      bus.subscribe(cluster, async (command) => {
        seen.push(command);
      }),
    ),
  );
  await waitFor(() => seen.length >= count, { what: `${count} commands`, timeoutMs: 20_000 });
  await Promise.all(subscriptions.map((s) => s.stop()));
  return seen;
}

describe('the outbox over Kafka', () => {
  it('publishes a page of command lanes side by side, each rollout’s commands in order per cluster', async () => {
    const broker = client('bot-batch');
    const { store, runner } = outbox(broker);
    const clusters = [`b1-${randomUUID().slice(0, 8)}`, `b2-${randomUUID().slice(0, 8)}`];
    // 20 rollouts × 2 clusters × 2 commands each: 40 lanes of two, 80 effects, one page.
    const rollouts = Array.from({ length: 20 }, () => aRolloutState().withVersion(1).build());
    for (const state of rollouts) {
      await store.create(
        aCommit(
          state,
          clusters.flatMap((c) => [setWeight(c, 1, 5), setWeight(c, 2, 50)]),
        ),
      );
    }

    await runner.drain();

    expect(await store.pendingEffects()).toEqual([]);
    const seen = await consume(clusters, 80);
    for (const state of rollouts)
      for (const cluster of clusters) {
        const lane = seen.filter((c) => c.rolloutId === state.id && c.cluster === cluster);
        expect(lane.map((c) => c.seq)).toEqual([1, 2]);
      }
  });

  it('holds only the lane of a send the broker refused; the next drain publishes it in order', async () => {
    const broker = client('bot-refused');
    const { store, runner } = outbox(broker);
    const cluster = `r-${randomUUID().slice(0, 8)}`;
    const rollouts = Array.from({ length: 10 }, () => aRolloutState().withVersion(1).build());
    for (const state of rollouts)
      await store.create(aCommit(state, [setWeight(cluster, 1, 5), setWeight(cluster, 2, 50)]));
    // Connected, with the topic known, before the fault: the refused request is one of the page's.
    await broker.produce(`rollout.commands.${cluster}`, 'warm-up', 'not a command');

    await kafka.pushErrors(PRODUCE, TOPIC_AUTHORIZATION_FAILED, 1);
    await runner.drain();

    // One lane's first command was refused: it and the command behind it wait; the other nine
    // lanes sent both of theirs.
    const pending = await store.pendingEffects();
    expect(pending).toHaveLength(2);
    expect(new Set(pending.map((p) => p.rolloutId)).size).toBe(1);
    expect(pending.map((p) => (p.effect.type === 'publish_command' ? p.effect.seq : -1))).toEqual([
      1, 2,
    ]);

    await runner.drain();
    expect(await store.pendingEffects()).toEqual([]);
    const seen = await consume([cluster], 20);
    for (const state of rollouts)
      expect(seen.filter((c) => c.rolloutId === state.id).map((c) => c.seq)).toEqual([1, 2]);
  });
});
