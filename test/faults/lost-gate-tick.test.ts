/**
 * A gate evaluation job that disappears (BullMQ fails a job for good after too many stalls; an
 * operator cleans a queue): nothing else would schedule the next evaluation, and the rollout would
 * bake forever. The bot's sweep notices the silent gate and schedules a new tick (distributed
 * mode: BullMQ on a private Redis, the Kafka test broker, agent processes).
 */
import { Queue } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { e2ePolicyYaml, STARTER } from '../support/e2e-policy.js';
import {
  FINISHED,
  startStack,
  waitForRollout,
  type DistributedStack,
} from '../support/distributed-stack.js';
import { waitFor } from '../support/wait-for.js';

let stack: DistributedStack | undefined;
let queue: Queue | undefined;
afterEach(async () => {
  await queue?.close();
  await stack?.stop();
  stack = undefined;
  queue = undefined;
});

describe('a gate evaluation job that is lost', () => {
  it(
    'is scheduled again by the sweep, and the rollout goes on to success',
    { timeout: 90_000 },
    async () => {
      // Evaluations every 2 s, so the test removes the first before it runs.
      const policy = e2ePolicyYaml()
        .replace('bake: 300ms', 'bake: 2s')
        .replace('interval: 100ms', 'interval: 2s');
      stack = await startStack({ policyYaml: policy });
      const { bot } = await stack.startBotAndAgents({ lostTickAfterMs: 1_000 });
      const service = bot.bot.service;
      queue = new Queue('gate-evaluations', {
        connection: { url: stack.redis.url },
        prefix: 'bull',
      });
      const rollout = await service.start({
        service: 'checkout',
        version: '2.5.0',
        startedBy: STARTER,
      });
      const baking = await waitForRollout(service, rollout.id, ['baking']);
      expect(baking.gate.tick).toBe(1);
      // The tick is scheduled by the outbox right after the commit that started the bake.
      const job = await waitFor(
        async () => (await queue!.getDelayed()).find((j) => j.data.rolloutId === rollout.id),
        { what: 'the first gate evaluation job, delayed', intervalMs: 20 },
      );
      expect(job.data).toMatchObject({ stageIndex: 0, tick: 1 });
      await job.remove();

      const finished = await waitForRollout(service, rollout.id, FINISHED, 60_000);
      expect(finished.status).toBe('succeeded');
      const trail = await service.auditTrail(rollout.id);
      expect(trail.filter((h) => h.input === 'gate_lost')).toHaveLength(1);
    },
  );
});
