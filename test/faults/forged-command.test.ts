/**
 * Someone who can write a command topic (a leaked client credential, another cluster's agent)
 * copies a real command and sends it again with the next seq and weight 100: the attack that moved
 * traffic to 100% and made the agent drop the bot's own next command as a duplicate. With signing
 * on (the default), the forgery goes to rollout.dlq and the cluster sees only the bot's commands.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Command } from '../../shared/contracts/commands.js';
import { commandTopic, DLQ_TOPIC } from '../../shared/contracts/topics.js';
import { e2ePolicyYaml, STARTER } from '../support/e2e-policy.js';
import {
  FINISHED,
  startStack,
  waitForRollout,
  type DistributedStack,
} from '../support/distributed-stack.js';
import { deadLetters, watchTopic } from '../support/topic-watch.js';
import { waitFor } from '../support/wait-for.js';

let stack: DistributedStack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

describe('a forged command on a cluster’s command topic', () => {
  it(
    'is dead-lettered, never reaches the router, and the bot’s own command with the same seq is applied',
    { timeout: 90_000 },
    async () => {
      stack = await startStack({ policyYaml: e2ePolicyYaml() });
      const { bot } = await stack.startBotAndAgents();
      const client = stack.kafkaClient('attacker');
      const [sent, dlq] = await Promise.all([
        watchTopic(client, commandTopic('eu-west')),
        watchTopic(client, DLQ_TOPIC),
      ]);
      const service = bot.bot.service;
      const rollout = await service.start({
        service: 'checkout',
        version: '2.5.0',
        startedBy: STARTER,
      });
      const real = await waitFor(
        () =>
          sent.records
            .map((r) => JSON.parse(r.value!.toString()) as Command)
            .find((c) => c.rolloutId === rollout.id && c.type === 'set_weight'),
        { what: 'the first set_weight on eu-west’s topic' },
      );
      // Copied, next seq, weight 100: once with the bot's signature kept, once with it removed.
      const { sig: _sig, ...unsigned } = real;
      const forged = [
        {
          ...real,
          id: crypto.randomUUID(),
          seq: real.seq + 2,
          payload: { ...real.payload, weight: 100 },
        },
        {
          ...unsigned,
          id: crypto.randomUUID(),
          seq: real.seq + 2,
          payload: { ...real.payload, weight: 100 },
        },
      ];
      for (const command of forged) {
        await client.produce(commandTopic('eu-west'), rollout.id, JSON.stringify(command));
      }

      const finished = await waitForRollout(service, rollout.id, FINISHED);
      expect(finished.status).toBe('succeeded');
      const letters = await waitFor(
        () => {
          const mine = deadLetters(dlq, (l) => forged.some((f) => l.value?.includes(f.id)));
          return mine.length >= 2 && mine;
        },
        { what: 'both forgeries in rollout.dlq' },
      );
      expect(letters.map((l) => l.reason).sort()).toEqual([
        expect.stringContaining('forged or altered command'),
        expect.stringContaining('unsigned command'),
      ]);
      // From the cluster's side: only the bot's commands, each stage once, in order.
      const writes = stack.routeWrites('eu-west').filter((w) => w.rolloutId === rollout.id);
      expect(writes.map((w) => `${w.operation} ${w.canaryWeight}`)).toEqual([
        'setWeight 0',
        'setWeight 5',
        'setWeight 25',
        'setWeight 50',
        'setWeight 100',
        'promote 0',
      ]);
    },
  );
});
