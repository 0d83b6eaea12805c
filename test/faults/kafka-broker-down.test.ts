/**
 * Kafka faults, against the librdkafka mock cluster: a partition leader going down while
 * commands are published, injected request errors, and a consumer kafkajs gives up on.
 * Tests in this file run one after another on one mock cluster (they inject faults into it).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KafkaTopicBroker } from '../../shared/adapters/kafka-topic-broker.js';
import { kafkaPartition } from '../../shared/adapters/memory-topic-broker.js';
import type { Command } from '../../shared/contracts/commands.js';
import { agentGroup, commandTopic } from '../../shared/contracts/topics.js';
import { TopicCommandBus } from '../../shared/messaging/topic-command-bus.js';
import type { TopicBroker } from '../../shared/ports/topic-broker.js';
import { aCommand } from '../support/envelopes.js';
import { startKafkaBroker, type KafkaTestBroker } from '../support/kafka-broker.js';
import { testKafkaClient, testLogger } from '../support/topic-brokers.js';
import { waitFor } from '../support/wait-for.js';

/** Kafka protocol API keys and error codes used below. */
const API = { Produce: 0, JoinGroup: 11 } as const;
const ERR = { NOT_LEADER_FOR_PARTITION: 6, INVALID_SESSION_TIMEOUT: 26 } as const;

let kafka: KafkaTestBroker;
const clients: TopicBroker[] = [];
function client(id: string): TopicBroker {
  const broker = testKafkaClient(kafka.bootstrap, id);
  clients.push(broker);
  return broker;
}

beforeAll(async () => {
  kafka = await startKafkaBroker({ brokers: 3 });
});
afterEach(async () => {
  await kafka.clearErrors();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await kafka?.stop();
});

/**
 * Creates a 4-partition topic whose leaders are known: partition p is led by broker p % 3 + 1
 * (the mock otherwise picks leaders at random). Returns the leader of each partition.
 */
async function topicWithKnownLeaders(topic: string): Promise<Map<number, number>> {
  await kafka.createTopic(topic, 4, 3);
  const leaders = new Map<number, number>();
  for (let partition = 0; partition < 4; partition++) {
    leaders.set(partition, (partition % 3) + 1);
    await kafka.setLeader(topic, partition, leaders.get(partition)!);
  }
  return leaders;
}

/**
 * Publishes a marker command behind `last` (same rollout, so the same partition, and published
 * after `last` and any retry of it were acknowledged) and waits until the consumer got it: every
 * copy of `last` was then delivered before it. Returns what arrived before the marker, so a test
 * counting deliveries sees duplicates instead of stopping at the first copy.
 */
async function drained(
  bot: TopicCommandBus,
  received: readonly Command[],
  last: Command,
): Promise<Command[]> {
  const marker = aCommand()
    .onCluster(last.cluster)
    .forRollout(last.rolloutId)
    .withSeq(last.seq + 1)
    .build();
  await bot.publish(marker);
  const at = await waitFor(
    () => {
      const index = received.findIndex((c) => c.id === marker.id);
      return index === -1 ? undefined : index;
    },
    { what: 'the marker behind the commands under test' },
  );
  return received.slice(0, at);
}

describe('Kafka faults', () => {
  it('Done when: a partition leader goes down while commands are published and comes back: every command is delivered, in order per rollout; redeliveries are recognisable by id', async () => {
    const cluster = 'fault-leader-down';
    const topic = commandTopic(cluster);
    const leaders = await topicWithKnownLeaders(topic);
    const rollouts = Array.from({ length: 8 }, (_, i) => `rollout-${i}`);
    const leaderOf = (rolloutId: string) => leaders.get(kafkaPartition(Buffer.from(rolloutId), 4))!;
    const victim = leaderOf(rollouts[0]!);
    const onVictim = rollouts.filter((r) => leaderOf(r) === victim);
    expect(onVictim.length).toBeLessThan(rollouts.length); // some rollouts keep a live leader
    // The agents' group coordinator goes down too: heartbeats and commits fail, the group rejoins.
    await kafka.setCoordinator(agentGroup(cluster), victim);

    const received: Command[] = [];
    const agent = new TopicCommandBus(client('agent'), { logger: testLogger });
    const subscription = await agent.subscribe(cluster, async (command) => {
      received.push(command);
    });

    // The bot's side: a producer that gives up quickly, and an outbox-like loop that publishes
    // the same envelope again until it is accepted (so a retry can duplicate, never lose).
    const botBroker = new KafkaTopicBroker({
      clientId: 'bot',
      brokers: kafka.bootstrap,
      logger: testLogger,
      connectionTimeoutMs: 500,
      retry: { initialRetryTimeMs: 50, maxRetryTimeMs: 200, retries: 2 },
    });
    clients.push(botBroker);
    const bot = new TopicCommandBus(botBroker);
    const sent = new Map<string, Command[]>(rollouts.map((r) => [r, []]));
    const refusals = new Map<string, number>(rollouts.map((r) => [r, 0]));
    const published = new Set<string>();
    const publishAll = async (rolloutId: string, fromSeq: number, toSeq: number) => {
      for (let seq = fromSeq; seq <= toSeq; seq++) {
        const command = aCommand()
          .onCluster(cluster)
          .forRollout(rolloutId)
          .withSeq(seq)
          .setWeight(seq, seq % 101)
          .build();
        sent.get(rolloutId)!.push(command);
        for (;;) {
          try {
            await bot.publish(command);
            break;
          } catch {
            refusals.set(rolloutId, refusals.get(rolloutId)! + 1);
          }
        }
      }
      published.add(rolloutId);
    };

    await Promise.all(rollouts.map((r) => publishAll(r, 1, 5)));
    published.clear();
    await kafka.down(victim);
    const publishing = Promise.all(rollouts.map((r) => publishAll(r, 6, 20)));
    // Keep the leader down until the others finished and each stuck publisher was refused ten
    // times (each refusal is a full kafkajs retry cycle against the dead leader): long enough for
    // the agent to lose its group session (2.5 s in tests) and have to rejoin.
    await waitFor(
      () =>
        rollouts.every((r) => (onVictim.includes(r) ? refusals.get(r)! >= 10 : published.has(r))),
      { what: 'publishers on live leaders to finish and the others to be refused' },
    );
    await kafka.up(victim);
    await publishing;

    const allSent = [...sent.values()].flat();
    await waitFor(() => allSent.every((c) => received.some((r) => r.id === c.id)), {
      what: `all ${allSent.length} commands`,
      timeoutMs: 30_000,
    });
    await subscription.stop();

    for (const rolloutId of onVictim) expect(refusals.get(rolloutId)).toBeGreaterThanOrEqual(10);
    const byId = new Map(allSent.map((c) => [c.id, c]));
    // A duplicate is the same envelope again: same id, same content.
    for (const command of received) expect(command).toEqual(byId.get(command.id));
    for (const rolloutId of rollouts) {
      const firstSeen = [
        ...new Set(received.filter((c) => c.rolloutId === rolloutId).map((c) => c.id)),
      ];
      expect(firstSeen.map((id) => byId.get(id)!.seq)).toEqual(
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
    }
    const duplicates = received.length - new Set(received.map((c) => c.id)).size;
    console.log(
      `broker ${victim} down: ${[...refusals.values()].reduce((a, b) => a + b)} publishes refused, ${duplicates} duplicate deliveries`,
    );
  });

  it('a publish whose acknowledgement came too late is sent again: the duplicate is delivered and recognisable by its id', async () => {
    const cluster = 'fault-late-ack';
    const topic = commandTopic(cluster);
    const leader = (await topicWithKnownLeaders(topic)).get(
      kafkaPartition(Buffer.from('rollout-1'), 4),
    )!;
    const received: Command[] = [];
    const agent = new TopicCommandBus(client('agent-dup'), { logger: testLogger });
    const subscription = await agent.subscribe(cluster, async (command) => {
      received.push(command);
    });
    const botBroker = new KafkaTopicBroker({
      clientId: 'bot-dup',
      brokers: kafka.bootstrap,
      logger: testLogger,
      requestTimeoutMs: 500,
      retry: { initialRetryTimeMs: 50, maxRetryTimeMs: 200, retries: 3 },
    });
    clients.push(botBroker);
    const bot = new TopicCommandBus(botBroker);

    // The leader writes the first produce at once but answers after the client timed out.
    await kafka.delayResponses(leader, API.Produce, 1_500, 1);
    const first = aCommand().onCluster(cluster).forRollout('rollout-1').withSeq(1).build();
    const second = aCommand().onCluster(cluster).forRollout('rollout-1').withSeq(2).build();
    await bot.publish(first);
    await bot.publish(second);
    await waitFor(() => received.some((c) => c.id === second.id), { what: 'the second command' });
    await subscription.stop();

    // Each timed-out try was written too: how many depends on timing, but never fewer than two,
    // each the same envelope, and the rollout's order holds once duplicates are dropped by id.
    const copies = received.filter((c) => c.id === first.id);
    expect(copies.length).toBeGreaterThanOrEqual(2);
    for (const copy of copies) expect(copy).toEqual(first);
    expect([...new Set(received.map((c) => c.id))]).toEqual([first.id, second.id]);
  });

  it('rides out injected produce errors: the command is delivered once', async () => {
    const cluster = 'fault-produce-errors';
    const received: Command[] = [];
    const agent = new TopicCommandBus(client('agent-2'), { logger: testLogger });
    const subscription = await agent.subscribe(cluster, async (command) => {
      received.push(command);
    });
    const bot = new TopicCommandBus(client('bot-2'));
    await kafka.pushErrors(API.Produce, ERR.NOT_LEADER_FOR_PARTITION, 3);

    const command = aCommand().onCluster(cluster).build();
    await bot.publish(command);
    const beforeMarker = await drained(bot, received, command);
    await subscription.stop();
    expect(beforeMarker).toEqual([command]);
  });

  it('replaces a consumer kafkajs gave up on (crash without restart), so consumption never stops silently', async () => {
    const cluster = 'fault-consumer-crash';
    const received: Command[] = [];
    // The first JoinGroup fails with a non-retriable error: kafkajs crashes with restart: false.
    await kafka.pushErrors(API.JoinGroup, ERR.INVALID_SESSION_TIMEOUT, 1);
    const agent = new TopicCommandBus(client('agent-3'), { logger: testLogger });
    const subscription = await agent.subscribe(cluster, async (command) => {
      received.push(command);
    });

    const command = aCommand().onCluster(cluster).build();
    const bot = new TopicCommandBus(client('bot-3'));
    await bot.publish(command);
    const beforeMarker = await drained(bot, received, command);
    await subscription.stop();
    expect(beforeMarker).toEqual([command]);
  });
});
