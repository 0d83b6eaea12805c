/**
 * The CommandBus and EventBus contracts (TopicCommandBus, TopicEventBus) over every topic broker:
 * validated envelopes in, validated envelopes out, in order per rollout; anything that cannot be
 * handled goes to `rollout.dlq` with the reason and its origin, and the consumer moves on.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Command } from '../../shared/contracts/commands.js';
import type { RolloutEvent } from '../../shared/contracts/events.js';
import {
  commandTopic,
  DLQ_TOPIC,
  EVENTS_TOPIC,
  HEALTH_TOPIC,
} from '../../shared/contracts/topics.js';
import { generateKeyPairSync } from 'node:crypto';
import {
  Ed25519CommandSigner,
  Ed25519CommandVerifier,
} from '../../shared/messaging/command-signing.js';
import { TopicCommandBus } from '../../shared/messaging/topic-command-bus.js';
import { TopicEventBus } from '../../shared/messaging/topic-event-bus.js';
import { UnprocessableMessageError } from '../../shared/ports/buses.js';
import type { TopicBroker } from '../../shared/ports/topic-broker.js';
import { aBatchedSample, aCommand, anEvent } from '../support/envelopes.js';
import { brokerKinds, testLogger, type BrokerFixture } from '../support/topic-brokers.js';
import { deadLetters, watchTopic } from '../support/topic-watch.js';
import { uniqueName, waitFor } from '../support/wait-for.js';

/** The buses' defaults: a handler that rejects is retried for as long as it takes. */
const busOptions = { logger: testLogger };
/** The opt-in limit, for the one test about it. */
const MAX_ATTEMPTS = 3;
/** More failures than the old default limit of 10 attempts, which dead-lettered valid messages. */
const MANY_FAILURES = 12;

/** A command bus and an agent subscribed to one fresh cluster, recording what it handled. */
async function agentOn(
  broker: TopicBroker,
  handle: (c: Command) => Promise<void> = async () => {},
  cluster = uniqueName('c'),
  options: { maxAttempts?: number; verifier?: Ed25519CommandVerifier } = {},
) {
  const bus = new TopicCommandBus(broker, { ...busOptions, ...options });
  const handled: Command[] = [];
  const subscription = await bus.subscribe(cluster, async (command) => {
    await handle(command);
    handled.push(command);
  });
  return { cluster, bus, handled, subscription, topic: commandTopic(cluster) };
}

describe.each(brokerKinds)('buses contract: $name', (kind) => {
  let fixture: BrokerFixture;
  beforeAll(async () => {
    fixture = await kind.start();
  });
  afterAll(async () => {
    await fixture?.close();
  });

  describe.concurrent('TopicCommandBus', () => {
    it('delivers each command to its cluster, keyed by rollout id, in order per rollout', async ({
      expect,
    }) => {
      const broker = fixture.client();
      const cluster = uniqueName('c');
      const [agent, raw] = await Promise.all([
        agentOn(broker, undefined, cluster),
        watchTopic(broker, commandTopic(cluster)),
      ]);
      const rollouts = [uniqueName('r'), uniqueName('r')];
      const sent: Command[] = [];
      for (let seq = 1; seq <= 4; seq++) {
        for (const rolloutId of rollouts) {
          const command = aCommand()
            .onCluster(agent.cluster)
            .forRollout(rolloutId)
            .withSeq(seq)
            .setWeight(seq - 1, seq * 20)
            .build();
          sent.push(command);
          await agent.bus.publish(command);
        }
      }
      await waitFor(() => agent.handled.length >= 8 && raw.records.length >= 8, {
        what: '8 commands',
      });
      await Promise.all([agent.subscription.stop(), raw.stop()]);

      expect([...agent.handled].sort(byId)).toEqual([...sent].sort(byId));
      for (const rolloutId of rollouts) {
        expect(agent.handled.filter((c) => c.rolloutId === rolloutId).map((c) => c.seq)).toEqual([
          1, 2, 3, 4,
        ]);
      }
      for (const record of raw.records) {
        const command = JSON.parse(record.value!.toString('utf8')) as Command;
        expect(record.key).toBe(command.rolloutId);
      }
    });

    it('with a verifier, hands over only commands the bot signed; unsigned, forged, altered and re-addressed ones go to rollout.dlq with the reason', async ({
      expect,
    }) => {
      const broker = fixture.client();
      const bot = keyPair();
      const attacker = keyPair();
      const verifier = new Ed25519CommandVerifier(bot.publicPem);
      const [agent, dlq] = await Promise.all([
        agentOn(broker, undefined, uniqueName('c'), { verifier }),
        watchTopic(broker, DLQ_TOPIC),
      ]);
      const botBus = new TopicCommandBus(broker, {
        ...busOptions,
        signer: new Ed25519CommandSigner(bot.privatePem),
      });
      const key = uniqueName('r');
      const command = (seq: number, weight: number) =>
        aCommand()
          .onCluster(agent.cluster)
          .forRollout(key)
          .withSeq(seq)
          .setWeight(seq, weight)
          .build();
      const signedByBot = new Ed25519CommandSigner(bot.privatePem).sign(command(2, 25));
      const otherCluster = uniqueName('c');

      await broker.produce(agent.topic, key, JSON.stringify(command(1, 100))); // unsigned
      await broker.produce(
        agent.topic,
        key,
        JSON.stringify(new Ed25519CommandSigner(attacker.privatePem).sign(command(2, 100))),
      );
      const altered = { ...signedByBot, payload: { ...signedByBot.payload, weight: 100 } };
      await broker.produce(agent.topic, key, JSON.stringify(altered));
      // Signed for another cluster, copied onto this one's topic with the cluster rewritten.
      const elsewhere = new Ed25519CommandSigner(bot.privatePem).sign({
        ...command(3, 100),
        cluster: otherCluster,
      });
      await broker.produce(
        agent.topic,
        key,
        JSON.stringify({ ...elsewhere, cluster: agent.cluster }),
      );
      const genuine = command(4, 50);
      await botBus.publish(genuine);

      await waitFor(() => agent.handled.length >= 1, { what: 'the genuine command' });
      const letters = await waitFor(
        () => {
          const mine = deadLetters(dlq, (l) => l.origin.topic === agent.topic);
          return mine.length >= 4 && mine;
        },
        { what: 'four dead letters' },
      );
      await Promise.all([agent.subscription.stop(), dlq.stop()]);
      expect(agent.handled.map((c) => c.id)).toEqual([genuine.id]);
      expect(agent.handled[0]!.payload).toMatchObject({ weight: 50 });
      expect(letters.map((l) => l.reason)).toEqual([
        expect.stringContaining('unsigned command'),
        expect.stringContaining('forged or altered'),
        expect.stringContaining('forged or altered'),
        expect.stringContaining('forged or altered'),
      ]);
    });

    it('refuses to publish an invalid command, and publishes nothing', async ({ expect }) => {
      const broker = fixture.client();
      const cluster = uniqueName('c');
      const bus = new TopicCommandBus(broker, busOptions);
      const raw = await watchTopic(broker, commandTopic(cluster));
      const invalid = { ...aCommand().onCluster(cluster).build(), seq: -1 };
      await expect(bus.publish(invalid as Command)).rejects.toMatchObject({
        code: 'invalid_message',
      });

      // Same rollout, so same partition: had the invalid one been produced, it would come first.
      const valid = aCommand().onCluster(cluster).build();
      await bus.publish(valid);
      await waitFor(() => raw.records.length >= 1, { what: 'the valid command' });
      await raw.stop();
      expect(JSON.parse(raw.records[0]!.value!.toString('utf8'))).toMatchObject({ id: valid.id });
    });

    it('Done when: a malformed message and one of unknown type land in rollout.dlq with the reason; the next valid command is delivered and committed', async ({
      expect,
    }) => {
      const broker = fixture.client();
      const [agent, dlq] = await Promise.all([agentOn(broker), watchTopic(broker, DLQ_TOPIC)]);
      const key = uniqueName('r');
      const unknownType = JSON.stringify({
        ...aCommand().onCluster(agent.cluster).forRollout(key).build(),
        type: 'self_destruct',
      });
      await broker.produce(agent.topic, key, '{"type": "set_weight", oops');
      await broker.produce(agent.topic, key, unknownType);
      const valid = aCommand().onCluster(agent.cluster).forRollout(key).withSeq(2).build();
      await agent.bus.publish(valid);

      await waitFor(() => agent.handled.length >= 1, { what: 'the valid command' });
      const letters = await waitFor(
        () => {
          const mine = deadLetters(dlq, (l) => l.origin.topic === agent.topic);
          return mine.length >= 2 && mine;
        },
        { what: '2 dead letters' },
      );
      await agent.subscription.stop();

      expect(agent.handled).toEqual([valid]);
      expect(letters.map((l) => l.reason)).toEqual([
        expect.stringMatching(/^not JSON: /),
        expect.stringMatching(
          /^unknown message type "self_destruct" \(expected one of start, set_weight/,
        ),
      ]);
      expect(letters.map((l) => l.value)).toEqual(['{"type": "set_weight", oops', unknownType]);
      expect(letters.map((l) => l.origin)).toEqual([
        { topic: agent.topic, partition: expect.any(Number), offset: '0', key },
        { topic: agent.topic, partition: expect.any(Number), offset: '1', key },
      ]);

      // Committed: the next member of the group starts after the valid command.
      const afterRestart: Command[] = [];
      const rejoined = await new TopicCommandBus(fixture.client(), busOptions).subscribe(
        agent.cluster,
        async (c) => {
          afterRestart.push(c);
        },
      );
      const later = aCommand().onCluster(agent.cluster).forRollout(key).withSeq(3).build();
      await agent.bus.publish(later);
      await waitFor(() => afterRestart.length >= 1, { what: 'the command after the restart' });
      await Promise.all([rejoined.stop(), dlq.stop()]);
      expect(afterRestart).toEqual([later]);
      expect(deadLetters(dlq, (l) => l.origin.topic === agent.topic)).toHaveLength(2);
    });

    it('Done when: an envelope with an unsupported v goes to the DLQ with the reason naming the version', async ({
      expect,
    }) => {
      const broker = fixture.client();
      const [agent, dlq] = await Promise.all([agentOn(broker), watchTopic(broker, DLQ_TOPIC)]);
      const future = JSON.stringify({ ...aCommand().onCluster(agent.cluster).build(), v: 2 });
      await broker.produce(agent.topic, 'rollout-1', future);
      const valid = aCommand().onCluster(agent.cluster).build();
      await agent.bus.publish(valid);

      const [letter] = await waitFor(
        () =>
          deadLetters(dlq, (l) => l.origin.topic === agent.topic).length >= 1 &&
          deadLetters(dlq, (l) => l.origin.topic === agent.topic),
        { what: 'the dead letter' },
      );
      await waitFor(() => agent.handled.length >= 1, { what: 'the valid command' });
      await Promise.all([agent.subscription.stop(), dlq.stop()]);

      expect(letter!.reason).toBe('unsupported schema version v=2 (this build reads 1)');
      expect(letter!.value).toBe(future);
      expect(agent.handled).toEqual([valid]);
    });

    it('dead-letters bad fields and a command addressed to another cluster, and moves on', async ({
      expect,
    }) => {
      const broker = fixture.client();
      const [agent, dlq] = await Promise.all([agentOn(broker), watchTopic(broker, DLQ_TOPIC)]);
      const tooHeavy = JSON.stringify({
        ...aCommand().onCluster(agent.cluster).build(),
        payload: { service: 'checkout', stageIndex: 0, weight: 150 },
      });
      await broker.produce(agent.topic, 'rollout-1', tooHeavy);
      await broker.produce(
        agent.topic,
        'rollout-1',
        JSON.stringify(aCommand().onCluster('elsewhere').build()),
      );
      const valid = aCommand().onCluster(agent.cluster).build();
      await agent.bus.publish(valid);

      const letters = await waitFor(
        () => {
          const mine = deadLetters(dlq, (l) => l.origin.topic === agent.topic);
          return mine.length >= 2 && mine;
        },
        { what: '2 dead letters' },
      );
      await waitFor(() => agent.handled.length >= 1, { what: 'the valid command' });
      await Promise.all([agent.subscription.stop(), dlq.stop()]);

      expect(letters[0]!.reason).toMatch(/^invalid set_weight message: .*payload\.weight/s);
      expect(letters[1]!.reason).toBe(`command for cluster "elsewhere" arrived on ${agent.topic}`);
      expect(agent.handled).toEqual([valid]);
    });

    it(`retries a valid command whose handler keeps failing (${MANY_FAILURES} times) until it succeeds: nothing is dead-lettered, nothing overtakes it`, async ({
      expect,
    }) => {
      const broker = fixture.client();
      const attempts: string[] = [];
      const [agent, dlq] = await Promise.all([
        agentOn(broker, async (command) => {
          attempts.push(command.id);
          const failures = attempts.filter((id) => id === command.id).length;
          if (command.seq === 1 && failures <= MANY_FAILURES) {
            throw new Error('cannot publish stage_applied: broker unavailable');
          }
        }),
        watchTopic(broker, DLQ_TOPIC),
      ]);
      const rollback = aCommand().onCluster(agent.cluster).forRollout('rollout-1').withSeq(1);
      const first = rollback.rollback().build();
      const second = aCommand().onCluster(agent.cluster).forRollout('rollout-1').withSeq(2).build();
      await agent.bus.publish(first);
      await agent.bus.publish(second);

      await waitFor(() => agent.handled.length >= 2, { what: 'both commands' });
      await Promise.all([agent.subscription.stop(), dlq.stop()]);

      expect(attempts).toEqual([...Array(MANY_FAILURES + 1).fill(first.id), second.id]);
      expect(agent.handled).toEqual([first, second]);
      expect(deadLetters(dlq, (l) => l.origin.topic === agent.topic)).toEqual([]);
    });

    it('dead-letters at once a valid command its handler marks unprocessable, with the reason, and moves on', async ({
      expect,
    }) => {
      const broker = fixture.client();
      const attempts: string[] = [];
      const [agent, dlq] = await Promise.all([
        agentOn(broker, async (command) => {
          attempts.push(command.id);
          if (command.seq === 1)
            throw new UnprocessableMessageError('service checkout has no route here');
        }),
        watchTopic(broker, DLQ_TOPIC),
      ]);
      const first = aCommand().onCluster(agent.cluster).forRollout('rollout-1').withSeq(1).build();
      const second = aCommand().onCluster(agent.cluster).forRollout('rollout-1').withSeq(2).build();
      await agent.bus.publish(first);
      await agent.bus.publish(second);

      await waitFor(() => agent.handled.length >= 1, { what: 'the second command' });
      const [letter] = await waitFor(
        () => {
          const mine = deadLetters(dlq, (l) => l.origin.topic === agent.topic);
          return mine.length >= 1 && mine;
        },
        { what: 'the dead letter' },
      );
      await Promise.all([agent.subscription.stop(), dlq.stop()]);

      expect(attempts).toEqual([first.id, second.id]);
      expect(agent.handled).toEqual([second]);
      expect(letter!.reason).toBe('unprocessable: service checkout has no route here');
      expect(JSON.parse(letter!.value!)).toEqual(first);
    });

    it(`with maxAttempts set (opt-in), dead-letters a valid command whose handler failed ${MAX_ATTEMPTS} times, then moves on`, async ({
      expect,
    }) => {
      const broker = fixture.client();
      const poison = aCommand().forRollout('rollout-1').withSeq(1);
      const attempts: string[] = [];
      const [agent, dlq] = await Promise.all([
        agentOn(
          broker,
          async (command) => {
            attempts.push(command.id);
            if (command.seq === 1) throw new Error('traffic router refused: weight out of sync');
          },
          uniqueName('c'),
          { maxAttempts: MAX_ATTEMPTS },
        ),
        watchTopic(broker, DLQ_TOPIC),
      ]);
      const first = poison.onCluster(agent.cluster).build();
      const second = aCommand().onCluster(agent.cluster).forRollout('rollout-1').withSeq(2).build();
      await agent.bus.publish(first);
      await agent.bus.publish(second);

      await waitFor(() => agent.handled.length >= 1, { what: 'the second command' });
      const [letter] = await waitFor(
        () => {
          const mine = deadLetters(dlq, (l) => l.origin.topic === agent.topic);
          return mine.length >= 1 && mine;
        },
        { what: 'the dead letter' },
      );
      await Promise.all([agent.subscription.stop(), dlq.stop()]);

      expect(attempts).toEqual([first.id, first.id, first.id, second.id]);
      expect(agent.handled).toEqual([second]);
      expect(letter!.reason).toBe(
        `handler failed after ${MAX_ATTEMPTS} attempts: traffic router refused: weight out of sync`,
      );
      expect(JSON.parse(letter!.value!)).toEqual(first);
    });

    it('redelivers a command whose handler had not finished to the next member, with the same id', async ({
      expect,
    }) => {
      const cluster = uniqueName('c');
      const publisher = new TopicCommandBus(fixture.client(), busOptions);
      const first = aCommand().onCluster(cluster).withSeq(1).build();
      const second = aCommand().onCluster(cluster).withSeq(2).build();
      await publisher.publish(first);
      await publisher.publish(second);

      const crashedSaw: Command[] = [];
      const crashed = await new TopicCommandBus(fixture.client(), busOptions).subscribe(
        cluster,
        async (command) => {
          crashedSaw.push(command);
          if (command.seq === 2) await new Promise<never>(() => {}); // dies mid-command
        },
      );
      await waitFor(() => crashedSaw.length >= 2, {
        what: 'the second command to reach the first agent',
      });
      await crashed.stop();

      const restartedSaw: Command[] = [];
      const restarted = await new TopicCommandBus(fixture.client(), busOptions).subscribe(
        cluster,
        async (command) => {
          restartedSaw.push(command);
        },
      );
      await waitFor(() => restartedSaw.length >= 1, { what: 'the redelivery' });
      await restarted.stop();

      expect(crashedSaw.map((c) => c.id)).toEqual([first.id, second.id]);
      expect(restartedSaw.map((c) => c.id)).toEqual([second.id]);
    });
  });

  describe.concurrent('TopicEventBus', () => {
    it('delivers events in order per rollout, keyed by rollout id, heartbeats keyed by cluster', async ({
      expect,
    }) => {
      const broker = fixture.client();
      const bus = new TopicEventBus(broker, busOptions);
      const rolloutId = uniqueName('r');
      const cluster = uniqueName('c');
      const received: RolloutEvent[] = [];
      const [subscription, raw] = await Promise.all([
        bus.subscribe(async (event) => {
          received.push(event);
        }, uniqueName('bot')),
        watchTopic(broker, EVENTS_TOPIC),
      ]);
      const sent = [
        anEvent().forRollout(rolloutId).onCluster(cluster).withSeq(1).stageApplied(0, 5).build(),
        anEvent().onCluster(cluster).heartbeat('agent-7', [rolloutId]).build(),
        anEvent().forRollout(rolloutId).onCluster(cluster).withSeq(2).stageApplied(1, 25).build(),
        anEvent().forRollout(rolloutId).onCluster(cluster).withSeq(3).promoted('2.4.1').build(),
      ];
      for (const event of sent) await bus.publish(event);
      const ids = new Set(sent.map((e) => e.id));
      const mine = () => received.filter((e) => ids.has(e.id));
      const rawMine = () =>
        raw.records.filter((r) =>
          ids.has((JSON.parse(r.value!.toString('utf8')) as RolloutEvent).id),
        );
      await waitFor(() => mine().length >= 4 && rawMine().length >= 4, { what: '4 events' });
      await Promise.all([subscription.stop(), raw.stop()]);

      expect(mine().filter((e) => e.rolloutId === rolloutId)).toEqual([sent[0], sent[2], sent[3]]);
      expect(mine().find((e) => e.type === 'agent_heartbeat')).toEqual(sent[1]);
      expect(
        rawMine()
          .map((r) => r.key)
          .sort(),
      ).toEqual([cluster, rolloutId, rolloutId, rolloutId].sort());
    });

    it('dead-letters an event that does not match its contract and moves on', async ({
      expect,
    }) => {
      const broker = fixture.client();
      const bus = new TopicEventBus(broker, busOptions);
      const key = uniqueName('r');
      const received: RolloutEvent[] = [];
      const [subscription, dlq] = await Promise.all([
        bus.subscribe(async (event) => {
          if (event.rolloutId === key) received.push(event);
        }, uniqueName('bot')),
        watchTopic(broker, DLQ_TOPIC),
      ]);
      const negative = JSON.stringify({ ...anEvent().forRollout(key).build(), seq: -4 });
      await broker.produce(EVENTS_TOPIC, key, negative);
      const valid = anEvent().forRollout(key).withSeq(2).build();
      await bus.publish(valid);

      const [letter] = await waitFor(
        () => {
          const mine = deadLetters(
            dlq,
            (l) => l.origin.topic === EVENTS_TOPIC && l.origin.key === key,
          );
          return mine.length >= 1 && mine;
        },
        { what: 'the dead letter' },
      );
      await waitFor(() => received.length >= 1, { what: 'the valid event' });
      await Promise.all([subscription.stop(), dlq.stop()]);

      expect(letter!.reason).toMatch(/^invalid stage_applied message: .*seq/s);
      expect(letter!.value).toBe(negative);
      expect(received).toEqual([valid]);
    });

    it(`retries a valid event whose handler keeps failing (${MANY_FAILURES} times, Redis down) instead of dead-lettering it`, async ({
      expect,
    }) => {
      const broker = fixture.client();
      const bus = new TopicEventBus(broker, busOptions);
      const key = uniqueName('r');
      let failures = 0;
      const received: RolloutEvent[] = [];
      const [subscription, dlq] = await Promise.all([
        bus.subscribe(async (event) => {
          if (event.rolloutId !== key) return;
          if (failures < MANY_FAILURES) {
            failures++;
            throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
          }
          received.push(event);
        }, uniqueName('bot')),
        watchTopic(broker, DLQ_TOPIC),
      ]);
      const promoted = anEvent().forRollout(key).withSeq(3).promoted('2.4.1').build();
      await bus.publish(promoted);

      await waitFor(() => received.length >= 1, { what: 'the event, once the handler recovers' });
      await Promise.all([subscription.stop(), dlq.stop()]);

      expect(failures).toBe(MANY_FAILURES);
      expect(received).toEqual([promoted]);
      expect(deadLetters(dlq, (l) => l.origin.key === key)).toEqual([]);
    });

    it('puts health sample batches on rollout.health keyed by cluster, apart from rollout.events: a backlog of samples does not hold up a stage_applied', async ({
      expect,
    }) => {
      const broker = fixture.client();
      const bus = new TopicEventBus(broker, busOptions);
      const cluster = uniqueName('c');
      const rolloutId = uniqueName('r');
      const received: RolloutEvent[] = [];
      let releaseSamples: () => void = () => {};
      const samplesHeld = new Promise<void>((resolve) => (releaseSamples = resolve));
      const [subscription, raw] = await Promise.all([
        bus.subscribe(async (event) => {
          if (event.cluster !== cluster) return;
          // The bot stuck on samples (a slow store) must still take the stage change.
          if (event.type === 'health_samples') await samplesHeld;
          received.push(event);
        }, uniqueName('bot')),
        watchTopic(broker, HEALTH_TOPIC),
      ]);
      const batch = anEvent()
        .onCluster(cluster)
        .healthSamples([rolloutId, uniqueName('r')])
        .build();
      const applied = anEvent()
        .forRollout(rolloutId)
        .onCluster(cluster)
        .stageApplied(1, 25)
        .build();
      await bus.publish(batch);
      await bus.publish(applied);

      await waitFor(() => received.length >= 1, { what: 'the stage_applied' });
      expect(received).toEqual([applied]);
      releaseSamples();
      await waitFor(() => received.length >= 2, { what: 'the batch, once the handler is free' });
      const rawMine = await waitFor(
        () => {
          const mine = raw.records.filter((r) => r.key === cluster);
          return mine.length >= 1 && mine;
        },
        { what: 'the batch on rollout.health' },
      );
      await Promise.all([subscription.stop(), raw.stop()]);

      expect(received[1]).toEqual(batch);
      expect(rawMine).toHaveLength(1);
      expect(JSON.parse(rawMine[0]!.value!.toString('utf8'))).toEqual(batch);
    });

    it('hands on the valid samples of a batch with bad ones, then dead-letters it naming the bad ones; a batch with a bad envelope is dead-lettered whole', async ({
      expect,
    }) => {
      const broker = fixture.client();
      const bus = new TopicEventBus(broker, busOptions);
      const cluster = uniqueName('c');
      const received: RolloutEvent[] = [];
      const [subscription, dlq] = await Promise.all([
        bus.subscribe(async (event) => {
          if (event.cluster === cluster) received.push(event);
        }, uniqueName('bot')),
        watchTopic(broker, DLQ_TOPIC),
      ]);
      const good = aBatchedSample('checkout-aaaaaa');
      const mixed = {
        ...anEvent().onCluster(cluster).healthSamples(['x']).build(),
        payload: {
          samples: [good, { ...aBatchedSample('checkout-bbbbbb'), windowMs: -1 }, 'garbage'],
        },
      };
      const badEnvelope = { ...mixed, id: 'not-a-uuid' };
      const empty = { ...mixed, payload: { samples: [] } };
      const tooMany = {
        ...mixed,
        payload: { samples: Array.from({ length: 201 }, (_, i) => aBatchedSample(`r-${i}`)) },
      };
      const allBad = { ...mixed, payload: { samples: [{ rolloutId: 'r-9' }] } };
      for (const message of [mixed, badEnvelope, empty, tooMany, allBad]) {
        await broker.produce(HEALTH_TOPIC, cluster, JSON.stringify(message));
      }

      // Buses of the tests running beside this one (other groups) dead-letter these too: one
      // letter per record is what this bus owes.
      const lettersByOffset = () =>
        new Map(deadLetters(dlq, (l) => l.origin.key === cluster).map((l) => [l.origin.offset, l]));
      const letters = await waitFor(
        () => {
          const mine = [...lettersByOffset().values()];
          return mine.length >= 5 && received.length >= 1 && mine;
        },
        { what: 'five dead letters' },
      );
      await Promise.all([subscription.stop(), dlq.stop()]);

      expect(received).toEqual([{ ...mixed, payload: { samples: [good] } }]);
      const reasons = letters.sort((a, b) => Number(a.origin.offset) - Number(b.origin.offset));
      expect(reasons.map((l) => l.origin.topic)).toEqual(Array(5).fill(HEALTH_TOPIC));
      expect(reasons[0]!.reason).toMatch(
        /^unprocessable: 2 of 3 samples invalid \(1 handled\): sample 1 \(rollout checkout-bbbbbb\): .*windowMs.*; sample 2: /s,
      );
      expect(reasons[1]!.reason).toMatch(/^invalid health_samples message: .*id/s);
      expect(reasons[2]!.reason).toMatch(/^invalid health_samples message: .*samples/s);
      expect(reasons[3]!.reason).toMatch(/^invalid health_samples message: .*samples/s);
      expect(reasons[4]!.reason).toMatch(/^unprocessable: 1 of 1 samples invalid \(0 handled\)/);
    });

    it('refuses to publish an invalid event', async ({ expect }) => {
      const bus = new TopicEventBus(fixture.client(), busOptions);
      const invalid = { ...anEvent().build(), type: 'exploded' };
      await expect(bus.publish(invalid as unknown as RolloutEvent)).rejects.toMatchObject({
        code: 'invalid_message',
      });
    });
  });
});

function byId(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function keyPair(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}
