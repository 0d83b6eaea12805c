/**
 * Two replicas of one cluster's agent: one consumer group on the memory broker (partitions shared
 * between them, moving when one leaves), one simulated cluster both see, as two pods see one API
 * server. The route is all they share.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryTopicBroker } from '../shared/adapters/memory-topic-broker.js';
import { silentLogger } from '../shared/log.js';
import { TopicCommandBus } from '../shared/messaging/topic-command-bus.js';
import { TopicEventBus } from '../shared/messaging/topic-event-bus.js';
import { FakeClock, RecordingEventBus, RolloutScript } from '../test/support/agent-harness.js';
import { waitFor } from '../test/support/wait-for.js';
import { RolloutAgent } from './agent.js';
import { SimulatedMetrics } from './metrics/simulated-metrics.js';
import { SimulatedRouter } from './routers/simulated-router.js';
import { SimulatedCluster } from './simulation/simulated-cluster.js';

interface Replica {
  name: string;
  agent: RolloutAgent;
  events: RecordingEventBus;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function twoReplicas(samplingIntervalMs = 3_600_000) {
  const broker = new MemoryTopicBroker({
    handlerRetry: { initialMs: 10, maxMs: 50 },
    drainTimeoutMs: 1_000,
  });
  cleanups.push(() => broker.close());
  const cluster = new SimulatedCluster({
    name: 'eu-west',
    services: { checkout: { stableVersion: '2.4.0' } },
    seed: 11,
  });
  const router = new SimulatedRouter(cluster);
  const metrics = new SimulatedMetrics(cluster);
  const commands = new TopicCommandBus(broker);
  const replicas: Replica[] = [];
  for (const name of ['pod-a', 'pod-b']) {
    const events = new RecordingEventBus(new TopicEventBus(broker));
    const agent = new RolloutAgent({
      cluster: 'eu-west',
      agentId: name,
      commands,
      events,
      router,
      metrics,
      clock: new FakeClock(),
      logger: silentLogger,
      samplingIntervalMs,
      heartbeatIntervalMs: 3_600_000,
      services: ['checkout'],
    });
    await agent.start();
    cleanups.push(() => agent.stop());
    replicas.push({ name, agent, events });
  }
  const send = async (...list: Parameters<TopicCommandBus['publish']>[0][]) => {
    for (const command of list) await commands.publish(command);
  };
  /** The replica that answered a command of the rollout (holds its partition), and the other. */
  const roles = async (): Promise<{ holder: Replica; other: Replica }> => {
    const holder = await waitFor(
      () =>
        replicas.find((r) =>
          r.events.published.some(
            (e) => e.type !== 'agent_heartbeat' && e.type !== 'health_samples',
          ),
        ),
      { what: 'a replica answering the rollout’s commands' },
    );
    return { holder, other: replicas.find((r) => r !== holder)! };
  };
  return { replicas, send, roles, cluster };
}

const samplesOf = (replica: Replica, rolloutId: string, stageIndex?: number) =>
  replica.events
    .samples(rolloutId)
    .filter((e) => stageIndex === undefined || e.stageIndex === stageIndex);

describe('RolloutAgent: two replicas of one cluster', () => {
  it('when the replica holding a rollout’s partition goes away, the other samples the rollout without any command', async () => {
    const { send, roles } = await twoReplicas(20);
    const script = new RolloutScript();
    await send(script.start(), script.setWeight(0, 5), script.setWeight(1, 25));
    const { holder, other } = await roles();
    await holder.events.waitFor('stage_applied', (e) => e.payload.stageIndex === 1);
    expect(other.events.of('stage_applied')).toEqual([]);

    // The holder's pod is deleted mid-bake: the partition moves, but a bake brings no command.
    await holder.agent.stop();
    const before = samplesOf(other, 'rollout-1', 1).length;
    await waitFor(() => samplesOf(other, 'rollout-1', 1).length >= before + 2, {
      what: 'the surviving replica sampling stage 1',
    });
    expect(samplesOf(other, 'rollout-1', 1).at(-1)!).toMatchObject({
      canary: { status: 'ok' },
      stable: { status: 'ok' },
    });
    expect(other.agent.activeRollouts()).toEqual(['rollout-1']);
  });

  it('every replica samples what it finds on the route, and stops once the route shows the rollout ended', async () => {
    const { send, roles } = await twoReplicas();
    const script = new RolloutScript();
    await send(script.start(), script.setWeight(0, 25));
    const { holder, other } = await roles();
    await holder.events.waitFor('stage_applied');

    await other.agent.sampleNow();
    expect(samplesOf(other, 'rollout-1', 0)).toHaveLength(1);
    expect(other.agent.activeRollouts()).toEqual(['rollout-1']);

    await send(script.rollback());
    await holder.events.waitFor('rolled_back');
    await other.agent.sampleNow();
    expect(samplesOf(other, 'rollout-1')).toHaveLength(1);
    expect(other.agent.activeRollouts()).toEqual([]);
  });

  it('a replica that missed a rollout’s end stops on seeing the next rollout on the route, and samples that one', async () => {
    const { send, roles } = await twoReplicas();
    const first = new RolloutScript('rollout-1');
    await send(first.start(), first.setWeight(0, 25));
    const { holder, other } = await roles();
    await holder.events.waitFor('stage_applied');
    await other.agent.sampleNow();
    expect(other.agent.activeRollouts()).toEqual(['rollout-1']);

    // Both happen between two of the other replica's sampling rounds.
    await send(first.rollback());
    await waitFor(
      () => holder.events.of('rolled_back').length + other.events.of('rolled_back').length === 1,
      {
        what: 'rollout-1 rolled back',
      },
    );
    const second = new RolloutScript('rollout-2', 'eu-west', 'checkout', '2.4.2');
    await send(second.start(), second.setWeight(0, 5));
    await waitFor(
      () => [holder, other].some((r) => r.events.of('stage_applied', 'rollout-2').length > 0),
      { what: 'rollout-2 at stage 0' },
    );

    await other.agent.sampleNow();
    expect(other.agent.activeRollouts()).toEqual(['rollout-2']);
    expect(samplesOf(other, 'rollout-1')).toHaveLength(1);
    expect(samplesOf(other, 'rollout-2', 0).length).toBeGreaterThanOrEqual(1);
  });
});
