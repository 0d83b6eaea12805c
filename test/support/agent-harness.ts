/**
 * An agent on in-memory parts for tests: a `MemoryTopicBroker` with the real command and event
 * buses, a simulated cluster (optionally on a state file), a router that counts its calls, an
 * event bus that records what the agent published, and a script of commands for one rollout.
 */
import { MemoryTopicBroker } from '../../shared/adapters/memory-topic-broker.js';
import { Command } from '../../shared/contracts/commands.js';
import { SCHEMA_VERSION } from '../../shared/contracts/envelope.js';
import type {
  BatchedHealthSample,
  RolloutEvent,
  RolloutEventType,
} from '../../shared/contracts/events.js';
import { silentLogger } from '../../shared/log.js';
import { TopicCommandBus } from '../../shared/messaging/topic-command-bus.js';
import { TopicEventBus } from '../../shared/messaging/topic-event-bus.js';
import type { EventBus, MessageHandler } from '../../shared/ports/buses.js';
import type { Subscription } from '../../shared/ports/topic-broker.js';
import type { Strategy, WebhookCheck } from '../../shared/rollout/plan.js';
import { RolloutAgent } from '../../agent/agent.js';
import { SimulatedMetrics } from '../../agent/metrics/simulated-metrics.js';
import { SimulatedRouter } from '../../agent/routers/simulated-router.js';
import type {
  AppliedMark,
  RouteState,
  RouteTarget,
  TrafficRouter,
} from '../../agent/routers/traffic-router.js';
import type { Fault } from '../../agent/simulation/faults.js';
import { SimulatedCluster } from '../../agent/simulation/simulated-cluster.js';
import { randomUUID } from 'node:crypto';
import { waitFor } from './wait-for.js';

export type EventOf<T extends RolloutEventType> = Extract<RolloutEvent, { type: T }>;

/** Passes every call through and counts it, so a test can prove a call did not happen. */
export class CountingRouter implements TrafficRouter {
  readonly calls = { setWeight: 0, promote: 0, rollback: 0, read: 0 };

  constructor(private readonly inner: TrafficRouter) {}

  setWeight(target: RouteTarget, weight: number, mark: AppliedMark): Promise<RouteState> {
    this.calls.setWeight++;
    return this.inner.setWeight(target, weight, mark);
  }
  promote(target: RouteTarget, mark: AppliedMark): Promise<RouteState> {
    this.calls.promote++;
    return this.inner.promote(target, mark);
  }
  rollback(target: RouteTarget, mark: AppliedMark): Promise<RouteState> {
    this.calls.rollback++;
    return this.inner.rollback(target, mark);
  }
  read(service: string): Promise<RouteState | undefined> {
    this.calls.read++;
    return this.inner.read(service);
  }
  /** Calls that change a route. */
  get writes(): number {
    return this.calls.setWeight + this.calls.promote + this.calls.rollback;
  }
}

/** Records, in order, every event published through it; can fail the next publishes. */
export class RecordingEventBus implements EventBus {
  readonly published: RolloutEvent[] = [];
  private failures = 0;

  constructor(private readonly inner: EventBus) {}

  /** The next `count` publishes reject (as when Kafka is unreachable). */
  failNext(count: number): void {
    this.failures = count;
  }

  async publish(event: RolloutEvent): Promise<void> {
    if (this.failures > 0) {
      this.failures--;
      throw new Error('event bus unavailable (injected by the test)');
    }
    // Recorded in the order publish was called, which is the order on the topic per key.
    this.published.push(event);
    try {
      await this.inner.publish(event);
    } catch (err) {
      this.published.splice(this.published.indexOf(event), 1);
      throw err;
    }
  }

  subscribe(handler: MessageHandler<RolloutEvent>, group?: string): Promise<Subscription> {
    return this.inner.subscribe(handler, group);
  }

  of<T extends RolloutEventType>(type: T, rolloutId?: string): EventOf<T>[] {
    return this.published.filter(
      (e): e is EventOf<T> =>
        e.type === type && (rolloutId === undefined || e.rolloutId === rolloutId),
    );
  }

  /** Every health sample published (unpacked from `health_samples` batches), in order. */
  samples(rolloutId?: string): BatchedHealthSample[] {
    return this.of('health_samples')
      .flatMap((e) => e.payload.samples)
      .filter((s) => rolloutId === undefined || s.rolloutId === rolloutId);
  }

  /** Waits until a health sample matching `where` was published, and returns it. */
  waitForSample(
    where: (sample: BatchedHealthSample) => boolean = () => true,
  ): Promise<BatchedHealthSample> {
    return waitFor(() => this.samples().find(where), {
      what: 'a health sample',
      timeoutMs: 10_000,
    });
  }

  /** Waits until an event of `type` matching `where` was published, and returns it. */
  waitFor<T extends RolloutEventType>(
    type: T,
    where: (event: EventOf<T>) => boolean = () => true,
  ): Promise<EventOf<T>> {
    return waitFor(() => this.of(type).find(where), { what: `a ${type} event`, timeoutMs: 10_000 });
  }
}

/** A clock that moves only when told. */
export class FakeClock {
  constructor(public ms = Date.parse('2025-06-02T09:30:00.000Z')) {}
  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** The commands of one rollout, each with the next seq (or the one set with `atSeq`). */
export class RolloutScript {
  private seq = 0;

  constructor(
    readonly rolloutId = 'rollout-1',
    readonly cluster = 'eu-west',
    readonly service = 'checkout',
    readonly version = '2.4.1',
    readonly stableVersion = '2.4.0',
    /** The rollout's fencing number: a later rollout of the service needs a higher one. */
    readonly fence = 1,
  ) {}

  /** The next command gets this seq (later ones count on from it). */
  atSeq(seq: number): this {
    this.seq = seq - 1;
    return this;
  }

  start(
    strategy: Strategy = 'canary',
    weights: number[] = [5, 25, 100],
    webhooks?: WebhookCheck[],
  ): Command {
    const gate = {
      checks: [],
      minRequests: 10,
      intervalMs: 1_000,
      failureLimit: 1,
      ...(webhooks !== undefined && { webhooks }),
    };
    return this.command('start', {
      service: this.service,
      version: this.version,
      stableVersion: this.stableVersion,
      strategy,
      stages: weights.map((weight) => ({ weight, bakeMs: 1_000, gate })),
    });
  }
  setWeight(stageIndex: number, weight: number): Command {
    return this.command('set_weight', { service: this.service, stageIndex, weight });
  }
  promote(): Command {
    return this.command('promote', { service: this.service });
  }
  rollback(reason = 'gate breached: error rate 7% > 2%'): Command {
    return this.command('rollback', { service: this.service, reason });
  }
  pause(): Command {
    return this.command('pause', { service: this.service });
  }
  resume(): Command {
    return this.command('resume', { service: this.service });
  }

  private command(type: Command['type'], payload: unknown): Command {
    this.seq += 1;
    return Command.parse({
      id: randomUUID(),
      v: SCHEMA_VERSION,
      type,
      rolloutId: this.rolloutId,
      cluster: this.cluster,
      seq: this.seq,
      fence: this.fence,
      at: '2025-06-02T09:30:00.000Z',
      actor: 'system:test',
      payload,
    });
  }
}

export interface AgentHarnessOptions {
  cluster?: string;
  /** Share a broker between agents (a restart keeps the uncommitted commands). */
  broker?: MemoryTopicBroker;
  /** The simulated cluster's state file (a restart reads it back). */
  stateFile?: string;
  faults?: Fault[];
  /** Default one hour: tests that want samples or beats either shorten it or call `…Now()`. */
  samplingIntervalMs?: number;
  heartbeatIntervalMs?: number;
  services?: string[];
  agentId?: string;
  /** Wraps the counting router, to shape what the router answers. */
  wrapRouter?: (router: TrafficRouter) => TrafficRouter;
  /** The policy's webhook checks per service (`RolloutAgentOptions.webhooksByService`). */
  webhooksByService?: Record<string, WebhookCheck[]>;
  /** Whether this replica samples (`RolloutAgentOptions.leader`). */
  leader?: { isLeader(): boolean };
}

export interface AgentHarness {
  broker: MemoryTopicBroker;
  commands: TopicCommandBus;
  events: RecordingEventBus;
  simulation: SimulatedCluster;
  router: CountingRouter;
  clock: FakeClock;
  agent: RolloutAgent;
  send(...commands: Command[]): Promise<void>;
  /** Stops the agent; closes the broker unless it was passed in. */
  stop(): Promise<void>;
}

export async function startAgent(options: AgentHarnessOptions = {}): Promise<AgentHarness> {
  const cluster = options.cluster ?? 'eu-west';
  const broker =
    options.broker ??
    new MemoryTopicBroker({ handlerRetry: { initialMs: 10, maxMs: 100 }, drainTimeoutMs: 1_000 });
  const commands = new TopicCommandBus(broker);
  const events = new RecordingEventBus(new TopicEventBus(broker));
  const simulation = new SimulatedCluster({
    name: cluster,
    services: { checkout: { stableVersion: '2.4.0' } },
    seed: 11,
    ...(options.stateFile !== undefined && { stateFile: options.stateFile }),
    ...(options.faults !== undefined && { faults: options.faults }),
  });
  const router = new CountingRouter(new SimulatedRouter(simulation));
  const clock = new FakeClock();
  const agent = new RolloutAgent({
    cluster,
    agentId: options.agentId ?? `agent-${cluster}-0`,
    commands,
    events,
    router: options.wrapRouter ? options.wrapRouter(router) : router,
    metrics: new SimulatedMetrics(simulation),
    clock,
    logger: silentLogger,
    samplingIntervalMs: options.samplingIntervalMs ?? 3_600_000,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 3_600_000,
    ...(options.services !== undefined && { services: options.services }),
    ...(options.webhooksByService !== undefined && {
      webhooksByService: options.webhooksByService,
    }),
    ...(options.leader !== undefined && { leader: options.leader }),
  });
  await agent.start();
  return {
    broker,
    commands,
    events,
    simulation,
    router,
    clock,
    agent,
    async send(...list) {
      for (const command of list) await commands.publish(command);
    },
    async stop() {
      await agent.stop();
      if (options.broker === undefined) await broker.close();
    },
  };
}
