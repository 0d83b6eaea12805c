/**
 * Bad input on `rollout.events` in distributed mode (the Kafka test broker, a private Redis, the
 * bot in this process, two agent processes): a record that is not JSON and an envelope of a type
 * nobody knows, in the middle of a rollout's own events (same key, so the same partition).
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { RecordingNotifier } from '../../bot/adapters/recording-notifier.js';
import { DLQ_TOPIC, EVENTS_TOPIC } from '../../shared/contracts/topics.js';
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

describe('bad input on rollout.events', () => {
  it(
    'a garbage record and an unknown message type go to the DLQ with the reason; the rollout still completes',
    { timeout: 90_000 },
    async () => {
      stack = await startStack({ policyYaml: e2ePolicyYaml() });
      const client = stack.kafkaClient('test-bad-input');
      const [bot, dlq] = await Promise.all([
        stack.startBot(new RecordingNotifier()),
        watchTopic(client, DLQ_TOPIC),
        stack.startAgent('eu-west'),
        stack.startAgent('us-east'),
      ]);
      const service = bot.bot.service;
      const rollout = await service.start({
        service: 'checkout',
        version: '2.5.0',
        startedBy: STARTER,
      });
      await waitForRollout(service, rollout.id, ['baking']);

      await client.produce(EVENTS_TOPIC, rollout.id, '{"type": "stage_applied", oops');
      const unknown = {
        id: randomUUID(),
        type: 'stage_teleported',
        v: 1,
        rolloutId: rollout.id,
        cluster: 'eu-west',
        seq: 1_000,
        at: new Date().toISOString(),
        actor: 'agent:eu-west',
        payload: { stageIndex: 3 },
      };
      await client.produce(EVENTS_TOPIC, rollout.id, JSON.stringify(unknown));

      const letters = await waitFor(
        () => {
          const found = deadLetters(dlq, (l) => l.origin.topic === EVENTS_TOPIC);
          return found.length >= 2 && found;
        },
        { what: 'two dead letters from rollout.events' },
      );
      expect(letters.map((l) => l.reason)).toEqual([
        expect.stringMatching(/^not JSON/),
        expect.stringMatching(/^unknown message type "stage_teleported" \(expected one of /),
      ]);
      expect(letters.map((l) => l.origin.key)).toEqual([rollout.id, rollout.id]);
      expect(letters[1]?.value).toBe(JSON.stringify(unknown));

      const finished = await waitForRollout(service, rollout.id, FINISHED);
      expect(finished.status).toBe('succeeded');
      // Nothing else was dead-lettered: the rollout's own events behind the bad ones were handled.
      // The bot dead-letters a bad event before it handles the next one, so before the rollout
      // ended; a marker put on the DLQ now under the rollout's key (its partition there) arrives
      // after any such letter. Count once the watch has the marker.
      const marker = {
        reason: `marker ${randomUUID()}`,
        origin: { topic: 'test', partition: 0, offset: '0', key: rollout.id },
        value: null,
        at: new Date().toISOString(),
      };
      await client.produce(DLQ_TOPIC, rollout.id, JSON.stringify(marker));
      await waitFor(() => deadLetters(dlq).some((l) => l.reason === marker.reason), {
        what: 'the marker on the DLQ',
      });
      expect(deadLetters(dlq, (l) => l.reason !== marker.reason)).toHaveLength(2);
    },
  );
});
