import type { Clock } from '../shared/clock.js';
import { RolloutError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import type { CommandBus, EventBus } from '../shared/ports/buses.js';
import type { Subscription } from '../shared/ports/topic-broker.js';
import { ClusterName, type SequentialCheck, type WebhookCheck } from '../shared/rollout/plan.js';
import { CommandApplier, type RetryPolicy } from './command-applier.js';
import { EventFactory } from './event-factory.js';
import { HealthSampler } from './health-sampler.js';
import { Heartbeat } from './heartbeat.js';
import type { MetricsProvider } from './metrics/metrics-provider.js';
import { runEvery, type Periodic } from './periodic.js';
import { RolloutTable } from './rollout-table.js';
import { RouteSync } from './route-sync.js';
import type { TrafficRouter } from './routers/traffic-router.js';

export interface RolloutAgentOptions {
  /** The cluster this agent shifts traffic in; it consumes only this cluster's commands. */
  cluster: string;
  /** Names this agent instance in heartbeats (replicas of one cluster differ here). */
  agentId: string;
  commands: CommandBus;
  events: EventBus;
  router: TrafficRouter;
  metrics: MetricsProvider;
  clock: Clock;
  logger: Logger;
  /** How often each active rollout is sampled, in ms. */
  samplingIntervalMs: number;
  /** How often a heartbeat is published, in ms (one is also published at start). */
  heartbeatIntervalMs: number;
  /** The window a health sample covers. Default: `samplingIntervalMs`, so windows tile. */
  sampleWindowMs?: number;
  /**
   * Services whose routes are read at start and before every sampling round, so rollouts in
   * progress are known (samples, heartbeats, dedupe) without any command: after a restart, and on
   * a replica that does not hold the partition of their commands (every sampling replica samples
   * every rollout it finds, see `leader`; the bot keeps the latest sample per rollout, stage and
   * cluster). Rollouts of
   * other services are recognised from their route when their first command arrives. Default none.
   */
  services?: readonly string[];
  /**
   * Webhook checks per service, from the policy: run for a rollout recovered from its route after
   * a restart, whose stages (and their gates' webhooks, from `start`) this process never saw.
   * Without them such a rollout sends no webhook results and its gate waits. Default none.
   */
  webhooksByService?: Readonly<Record<string, readonly WebhookCheck[]>>;
  /** Sequential checks per service, from the policy, for the same recovered rollouts. Default none. */
  sequentialByService?: Readonly<Record<string, readonly SequentialCheck[]>>;
  /** The consumers of each service in this cluster, from the policy, for the same recovered rollouts. */
  dependentsByService?: Readonly<Record<string, readonly string[]>>;
  /** How a failing rollback is retried before `command_failed`. Default `DEFAULT_ROLLBACK_RETRY`. */
  rollbackRetry?: RetryPolicy;
  /** Event ids. Default `crypto.randomUUID`. */
  newId?: () => string;
  /**
   * Whether this replica is the one of its cluster that samples (see `LeaseElector`): the others
   * skip their sampling rounds (and the route reads before them) and stand by, so Prometheus
   * calls and health messages do not grow with replicas. Commands and heartbeats are unaffected.
   * Default: always (one replica, or simulated mode where every replica samples as before).
   */
  leader?: { isLeader(): boolean };
}

/**
 * One cluster's agent: applies that cluster's commands through the `TrafficRouter`, samples health
 * through the `MetricsProvider` while a rollout is active, and sends heartbeats. It keeps nothing
 * on disk: what it applied is the applied mark stored with each route (see `CommandApplier`).
 */
export class RolloutAgent {
  private readonly table = new RolloutTable();
  private readonly applier: CommandApplier;
  private readonly routes: RouteSync;
  private readonly sampler: HealthSampler;
  private readonly heartbeat: Heartbeat;
  private readonly logger: Logger;
  private subscription: Subscription | undefined;
  private loops: Periodic[] = [];
  private state: 'new' | 'running' | 'stopped' = 'new';

  constructor(private readonly options: RolloutAgentOptions) {
    if (!ClusterName.safeParse(options.cluster).success) {
      throw new RolloutError(
        'invalid_config',
        `RolloutAgent: cluster ${JSON.stringify(options.cluster)} is not a cluster name`,
      );
    }
    for (const name of ['samplingIntervalMs', 'heartbeatIntervalMs', 'sampleWindowMs'] as const) {
      const value = options[name];
      if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
        throw new RolloutError(
          'invalid_config',
          `RolloutAgent: ${name} must be a positive whole number of ms, got ${value}`,
        );
      }
    }
    this.logger = options.logger.child({
      component: 'rollout-agent',
      cluster: options.cluster,
      agentId: options.agentId,
    });
    const envelopes = new EventFactory(options.cluster, options.clock, options.newId);
    const shared = { events: options.events, envelopes, table: this.table, logger: this.logger };
    this.applier = new CommandApplier({
      ...shared,
      cluster: options.cluster,
      router: options.router,
      ...(options.rollbackRetry !== undefined && { rollbackRetry: options.rollbackRetry }),
    });
    this.routes = new RouteSync({
      router: options.router,
      table: this.table,
      logger: this.logger,
      exclusive: (rolloutId, work) => this.applier.exclusive(rolloutId, work),
    });
    this.sampler = new HealthSampler({
      ...shared,
      metrics: options.metrics,
      windowMs: options.sampleWindowMs ?? options.samplingIntervalMs,
      cluster: options.cluster,
      ...(options.webhooksByService !== undefined && {
        webhooksByService: options.webhooksByService,
      }),
      ...(options.sequentialByService !== undefined && {
        sequentialByService: options.sequentialByService,
      }),
      router: options.router,
      ...(options.dependentsByService !== undefined && {
        dependentsByService: options.dependentsByService,
      }),
    });
    this.heartbeat = new Heartbeat({ ...shared, agentId: options.agentId });
  }

  /** Syncs from the routes, subscribes to the cluster's commands, and starts the timers. */
  async start(): Promise<void> {
    if (this.state !== 'new')
      throw new RolloutError('invalid_state', `RolloutAgent is ${this.state}; create a new one`);
    this.state = 'running';
    await this.routes.sync(this.options.services ?? []);
    this.subscription = await this.options.commands.subscribe(this.options.cluster, (command) =>
      this.applier.handle(command),
    );
    await this.heartbeat.beat();
    this.loops = [
      runEvery(
        this.options.samplingIntervalMs,
        async () => {
          if (this.options.leader?.isLeader() === false) return;
          await this.sampleNow();
        },
        this.logger,
        'health-sample',
      ),
      runEvery(
        this.options.heartbeatIntervalMs,
        () => this.heartbeat.beat(),
        this.logger,
        'heartbeat',
      ),
    ];
    this.logger.info({ active: this.activeRollouts() }, 'agent started');
  }

  /**
   * Stops consuming (a command being handled finishes and is committed), stops the timers after
   * their current run, and waits for everything in flight. Idempotent.
   */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    await this.subscription?.stop();
    await Promise.all(this.loops.map((loop) => loop.stop()));
    await this.applier.drain();
    this.logger.info('agent stopped');
  }

  /**
   * Reads the configured services' routes, then samples every active rollout (what the timer does
   * every interval). Reading first is what lets a replica sample a rollout whose commands another
   * replica applied, and stop sampling one the route shows ended.
   */
  async sampleNow(): Promise<void> {
    await this.routes.sync(this.options.services ?? []);
    await this.sampler.sampleAll();
  }

  /** Publishes a heartbeat now (what the timer does every interval). */
  heartbeatNow(): Promise<void> {
    return this.heartbeat.beat();
  }

  /** Ids of the rollouts in progress in this cluster, as the heartbeat lists them. */
  activeRollouts(): string[] {
    return this.table.active().map((r) => r.rolloutId);
  }
}
