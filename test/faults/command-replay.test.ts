/**
 * A restarted agent handed every command of an ended rollout again (what it consumes when its
 * group has no committed offset: offsets expired, a renamed group, a reset) while a newer rollout
 * of the same service waits at a stage (distributed mode: the Kafka test broker, a private Redis,
 * the bot in this process, agent processes). What the cluster did is read from its side: every
 * router write is in the simulated cluster's log.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ServiceBusyError } from '../../bot/rollout-service.js';
import { commandTopic } from '../../shared/contracts/topics.js';
import { e2ePolicyYaml, LEAD, STARTER } from '../support/e2e-policy.js';
import {
  FINISHED,
  startStack,
  waitForRollout,
  type DistributedStack,
} from '../support/distributed-stack.js';
import { watchTopic } from '../support/topic-watch.js';
import { waitFor } from '../support/wait-for.js';

let stack: DistributedStack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

describe('commands of an ended rollout replayed into a restarted agent', () => {
  it(
    'never change the route of the newer rollout: no router write, and the newer rollout completes',
    { timeout: 120_000 },
    async () => {
      stack = await startStack({ policyYaml: e2ePolicyYaml() });
      const { bot, agents } = await stack.startBotAndAgents();
      const euWest = agents['eu-west']!;
      const service = bot.bot.service;
      const client = stack.kafkaClient('test-replayer');
      const sent = await watchTopic(client, commandTopic('eu-west'));
      const lead = { id: `user:${LEAD}` };

      // r1: payments to 1.1.0, approved at 50% and promoted.
      const r1 = await service.start({ service: 'payments', version: '1.1.0', startedBy: STARTER });
      await waitForRollout(service, r1.id, ['awaiting_approval']);
      await service.act(r1.id, { type: 'approve' }, lead);
      expect((await waitForRollout(service, r1.id, FINISHED)).status).toBe('succeeded');

      // r2: payments to 1.2.0, waiting for approval at 50% (nothing is sent while it waits).
      // r1's lock is released by its outbox after the commit that made it succeed: start r2 once
      // it is (a start a moment earlier is refused as busy, as it would be in Slack).
      const r2 = await waitFor(
        () =>
          service
            .start({ service: 'payments', version: '1.2.0', startedBy: STARTER })
            .catch((err: unknown) => {
              if (err instanceof ServiceBusyError && err.activeRolloutId === r1.id)
                return undefined;
              throw err;
            }),
        { what: 'r2 to start once r1 released payments' },
      );
      await waitForRollout(service, r2.id, ['awaiting_approval']);
      const replayed = await waitFor(
        () => {
          const records = sent.records.filter((r) => r.key === r1.id);
          const types = records.map(
            (r) => (JSON.parse(r.value!.toString()) as { type: string }).type,
          );
          return types.includes('promote') && records;
        },
        { what: 'every command of r1 on eu-west’s topic' },
      );

      // The agent restarts with an empty table, then consumes all of r1's commands again.
      await euWest.kill('SIGKILL');
      const restarted = await stack.startAgent('eu-west');
      const writesBefore = stack.routeWrites('eu-west').length;
      for (const record of replayed) await client.produce(record.topic, record.key, record.value!);
      const lastSeq = Math.max(
        ...replayed.map((r) => (JSON.parse(r.value!.toString()) as { seq: number }).seq),
      );
      // Handled: refused (its log says so), or applied (the cluster's log would show r1's write).
      await waitFor(
        () =>
          stack!
            .routeWrites('eu-west')
            .slice(writesBefore)
            .some((w) => w.rolloutId === r1.id) ||
          restarted
            .output()
            .split('\n')
            .some(
              (line) =>
                line.includes(`"rolloutId":"${r1.id}"`) &&
                line.includes(`"seq":${lastSeq}`) &&
                line.includes('refusing'),
            ),
        { what: `the restarted agent to handle r1's last command (seq ${lastSeq})` },
      );

      // From the cluster's side: not one write, and r2's split is as it was.
      expect(stack.routeWrites('eu-west').slice(writesBefore)).toEqual([]);
      expect(stack.routerWeight('eu-west', 'payments')).toBe(50);

      await service.act(r2.id, { type: 'approve' }, lead);
      expect((await waitForRollout(service, r2.id, FINISHED)).status).toBe('succeeded');
      const last = stack.routeWrites('eu-west').at(-1);
      expect(last).toMatchObject({ rolloutId: r2.id, operation: 'promote' });
    },
  );
});
