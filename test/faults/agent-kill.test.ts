/**
 * An agent process killed with SIGKILL mid-rollout and started again (distributed mode: the Kafka
 * test broker, a private Redis, the bot in this process, one agent process per cluster). What the
 * clusters did is read from their side: every router write is in the simulated cluster's log.
 */
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisHealthSampleStore } from '../../bot/adapters/redis-health-samples.js';
import type { RolloutService } from '../../bot/rollout-service.js';
import type { RouteWrite } from '../../agent/simulation/simulated-cluster.js';
import { commandTopic } from '../../shared/contracts/topics.js';
import { e2ePolicyYaml, LEAD, STARTER } from '../support/e2e-policy.js';
import {
  FINISHED,
  startStack,
  waitForRollout,
  type DistributedStack,
} from '../support/distributed-stack.js';
import type { EntryProcess } from '../support/entry-process.js';
import { watchTopic } from '../support/topic-watch.js';
import { waitFor } from '../support/wait-for.js';

let stack: DistributedStack | undefined;
let redis: Redis | undefined;
afterEach(async () => {
  await redis?.quit();
  await stack?.stop();
  stack = undefined;
  redis = undefined;
});

interface Running {
  stack: DistributedStack;
  service: RolloutService;
  agents: Record<'eu-west' | 'us-east', EntryProcess>;
}

async function distributed(): Promise<Running> {
  stack = await startStack({ policyYaml: e2ePolicyYaml() });
  const { bot, agents } = await stack.startBotAndAgents();
  return {
    stack,
    service: bot.bot.service,
    agents: { 'eu-west': agents['eu-west']!, 'us-east': agents['us-east']! },
  };
}

/** A rollout's router writes per command seq, as `operation weight`. */
function writesBySeq(writes: RouteWrite[], rolloutId: string): Map<number, string[]> {
  const bySeq = new Map<number, string[]>();
  for (const w of writes.filter((w) => w.rolloutId === rolloutId)) {
    bySeq.set(w.seq, [...(bySeq.get(w.seq) ?? []), `${w.operation} ${w.canaryWeight}`]);
  }
  return bySeq;
}

/** Fails unless every command of the rollout reached the cluster's router exactly once. */
function expectEachAppliedOnce(stack: DistributedStack, cluster: string, rolloutId: string): void {
  const bySeq = writesBySeq(stack.routeWrites(cluster), rolloutId);
  for (const [seq, writes] of bySeq) {
    expect(writes, `${cluster}: writes of command seq ${seq}`).toHaveLength(1);
  }
}

describe('an agent process killed with SIGKILL', () => {
  it(
    'right after writing a stage, its commands delivered again: the rollout completes and no stage is applied twice',
    { timeout: 90_000 },
    async () => {
      const { stack, service, agents } = await distributed();
      // What eu-west's agent is sent, to hand it again after the kill, as Kafka does when the
      // agent died before committing: the restarted agent must know them for applied.
      const client = stack.kafkaClient('test-replayer');
      const sent = await watchTopic(client, commandTopic('eu-west'));

      const rollout = await service.start({
        service: 'checkout',
        version: '2.5.0',
        startedBy: STARTER,
      });
      // Mid-stage: eu-west has just written stage 2 (25%) to its route. Kill it at once.
      const written = await waitFor(
        () =>
          stack
            .routeWrites('eu-west')
            .find((w) => w.rolloutId === rollout.id && w.canaryWeight === 25),
        { what: 'eu-west to write stage 2', timeoutMs: 30_000, intervalMs: 2 },
      );
      const killed = await agents['eu-west'].kill('SIGKILL');
      expect(killed.signal).toBe('SIGKILL');

      const applied = await waitFor(
        () => {
          const records = sent.records.filter((r) => r.key === rollout.id);
          const seqs = records.map((r) => (JSON.parse(r.value!.toString()) as { seq: number }).seq);
          return seqs.includes(written.seq) && records;
        },
        { what: 'the stage 2 command on eu-west’s topic' },
      );
      for (const record of applied) await client.produce(record.topic, record.key, record.value!);

      const restarted = await stack.startAgent('eu-west');
      const finished = await waitForRollout(service, rollout.id, FINISHED);
      expect(finished.status).toBe('succeeded');

      // From the clusters' side: every command reached each router once, stage by stage.
      for (const cluster of ['eu-west', 'us-east'])
        expectEachAppliedOnce(stack, cluster, rollout.id);
      const euWest = stack.routeWrites('eu-west').filter((w) => w.rolloutId === rollout.id);
      expect(euWest.map((w) => `${w.operation} ${w.canaryWeight}`)).toEqual([
        'setWeight 0',
        'setWeight 5',
        'setWeight 25',
        'setWeight 50',
        'setWeight 100',
        'promote 0',
      ]);
      // The restarted agent did receive the commands again, and answered them from the route mark.
      expect(restarted.output()).toMatch(
        /already applied \(route mark\)|older than the route mark/,
      );
      // From the bot's side: each stage applied once per cluster.
      const trail = await service.auditTrail(rollout.id);
      expect(trail.filter((h) => h.input === 'stage_applied')).toHaveLength(8);
    },
  );

  it(
    'while its rollout waits for approval: started again, it resumes sampling with no command to say the stage',
    { timeout: 90_000 },
    async () => {
      const { stack, service, agents } = await distributed();
      redis = new Redis(stack.redis.url);
      const samples = new RedisHealthSampleStore(redis);
      const rollout = await service.start({
        service: 'payments',
        version: '1.1.0',
        startedBy: STARTER,
      });
      const waiting = await waitForRollout(service, rollout.id, ['awaiting_approval']);
      expect(waiting.stageIndex).toBe(1);
      await agents['eu-west'].kill('SIGKILL');
      const writesBefore = stack.routeWrites('eu-west').length;

      await stack.startAgent('eu-west');
      // The killed agent's last samples were taken in by now (its group's session has expired since).
      const restartedAt = Date.now();
      // Nothing is sent while a rollout waits on a person: only the route's mark can say the stage.
      const sample = await waitFor(
        async () =>
          (await samples.latest(rollout.id, 1)).find(
            (s) => s.cluster === 'eu-west' && s.receivedAt > restartedAt,
          ),
        { what: 'a stage 2 health sample from the restarted eu-west agent' },
      );
      expect(sample.sample.canary).toMatchObject({ status: 'ok' });
      expect(stack.routeWrites('eu-west')).toHaveLength(writesBefore);

      await service.act(rollout.id, { type: 'approve' }, { id: `user:${LEAD}` });
      const finished = await waitForRollout(service, rollout.id, FINISHED);
      expect(finished.status).toBe('succeeded');
      for (const cluster of ['eu-west', 'us-east'])
        expectEachAppliedOnce(stack, cluster, rollout.id);
    },
  );
});
