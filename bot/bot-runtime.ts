import type { Clock } from '../shared/clock.js';
import type { Policy } from '../shared/config/policy.js';
import type { Logger } from '../shared/log.js';
import type { AgentRegistry } from '../shared/ports/agent-registry.js';
import type { CommandBus, EventBus } from '../shared/ports/buses.js';
import type { GateScheduler } from '../shared/ports/gate-scheduler.js';
import type { HealthSampleStore } from '../shared/ports/health-samples.js';
import type { Notifier } from '../shared/ports/notifier.js';
import type { Pager } from '../shared/ports/pager.js';
import type { PagerRouting } from '../shared/config/pager-routing.js';
import type { OnceClaims } from '../shared/ports/once-claims.js';
import type { RolloutStore } from '../shared/ports/rollout-store.js';
import type { ServiceLocks } from '../shared/ports/service-locks.js';
import type { Subscription } from '../shared/ports/topic-broker.js';
import type { ReleaseNotifier } from '../shared/ports/release-notifier.js';
import type { ReleaseStore } from '../shared/ports/release-store.js';
import type { ContractChecks } from '../shared/ports/contract-checks.js';
import { MemoryContractChecks } from './adapters/memory-contract-checks.js';
import { LogReleaseNotifier } from './adapters/log-release-notifier.js';
import { MemoryReleaseStore } from './adapters/memory-release-store.js';
import { EffectRunner } from './effect-runner.js';
import { ReleaseRunner } from './release-runner.js';
import { ReleaseService } from './release-service.js';
import { createEventIngest } from './event-ingest.js';
import { createGateRunner } from './gate-runner.js';
import { OperatorMetrics } from './operator-metrics.js';
import { PagingNotifier } from './paging-notifier.js';
import { RolloutService } from './rollout-service.js';
import { DEFAULT_SWEEP_OPTIONS, Sweeps, type SweepOptions } from './sweeps.js';

/** How long `stop` waits for alerts still being delivered. */
const ALERT_GRACE_MS = 5_000;

/** The adapters a bot runs on: memory ones in local mode, Kafka/Redis/BullMQ when distributed. */
export interface BotAdapters {
  store: RolloutStore;
  locks: ServiceLocks;
  samples: HealthSampleStore;
  agents: AgentRegistry;
  claims: OnceClaims;
  scheduler: GateScheduler;
  commands: CommandBus;
  events: EventBus;
  notifier: Notifier;
  /** Releases and their outbox. Absent: a memory store (one process only; tests, local mode). */
  releases?: ReleaseStore;
  /** The release card and thread. Absent: the log. */
  releaseNotifier?: ReleaseNotifier;
  /**
   * can-i-deploy for releases (the Pact Broker, or memory in local mode). Absent: no checker, so
   * every check is unanswered and holds its release (a policy with contract checks and no broker
   * never passes them; `main.ts` refuses to start that way in distributed mode).
   */
  contracts?: ContractChecks;
}

/** The checker when none is configured: unanswered, so a check holds rather than passes. */
const NO_CONTRACT_CHECKER = {
  verdict: 'unknown',
  reason: 'no contract checker is configured (set PACT_BROKER_URL)',
  problem: 'unreachable',
} as const;

export interface BotRuntimeOptions {
  adapters: BotAdapters;
  policy: () => Policy;
  clock: Clock;
  logger: Logger;
  sweeps?: Partial<SweepOptions>;
  /** Run the periodic sweeps on a timer (tests call `sweeps.tick()` themselves). Default true. */
  sweepTimer?: boolean;
  newRolloutId?: (service: string) => string;
  /** Pages on-call beside the notifier (PagerDuty); absent, or with no key set: no paging. */
  paging?: { pager: Pager; routing: PagerRouting };
  /**
   * Where operator metrics go; pass the one the buses report dead letters to. Default: a new one
   * (`runtime.metrics`, for `/metrics` to include).
   */
  metrics?: OperatorMetrics;
}

/**
 * The bot's application, wired from its adapters: the rollout service, the effect runner over
 * the outbox, the events consumer, the gate runner and the sweeps. `main.ts` picks the adapters.
 */
export class BotRuntime {
  readonly service: RolloutService;
  readonly effects: EffectRunner;
  readonly releases: ReleaseService;
  readonly releaseEffects: ReleaseRunner;
  readonly sweeps: Sweeps;
  readonly metrics: OperatorMetrics;
  private subscription: Subscription | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  /** Set once the last drain before closing the scheduler is done: commits no longer drain. */
  private stopping = false;

  constructor(private readonly options: BotRuntimeOptions) {
    const { adapters, clock, logger } = options;
    this.metrics = options.metrics ?? new OperatorMetrics();
    this.metrics.observe(adapters.store);
    const notifier =
      options.paging?.routing.enabled === true
        ? new PagingNotifier({
            inner: adapters.notifier,
            pager: options.paging.pager,
            routing: options.paging.routing,
            claims: adapters.claims,
            logger: logger.child({ component: 'pager' }),
          })
        : adapters.notifier;
    this.effects = new EffectRunner({
      ...adapters,
      notifier,
      clock,
      logger: logger.child({ component: 'effects' }),
      // Member reports reach the release through the rollout's outbox (see `report_to_release`).
      reportToRelease: (releaseId, rolloutId, report) =>
        this.releases.report(releaseId, rolloutId, report),
    });
    this.service = new RolloutService({
      store: adapters.store,
      locks: adapters.locks,
      policy: options.policy,
      clock,
      logger: logger.child({ component: 'rollouts' }),
      onCommitted: () => {
        if (!this.stopping) void this.effects.drain();
      },
      ...(options.newRolloutId ? { newRolloutId: options.newRolloutId } : {}),
      reservedByRelease: (rolloutId) => this.releases.reserves(rolloutId),
    });
    const releaseStore = adapters.releases ?? new MemoryReleaseStore();
    const contracts = adapters.contracts ?? new MemoryContractChecks(NO_CONTRACT_CHECKER);
    this.releases = new ReleaseService({
      store: releaseStore,
      rollouts: this.service,
      locks: adapters.locks,
      contracts,
      policy: options.policy,
      clock,
      logger: logger.child({ component: 'releases' }),
      onCommitted: () => {
        if (!this.stopping) void this.releaseEffects.drain();
      },
    });
    this.releaseEffects = new ReleaseRunner({
      store: releaseStore,
      releases: this.releases,
      rollouts: this.service,
      locks: adapters.locks,
      notifier:
        adapters.releaseNotifier ?? new LogReleaseNotifier(logger.child({ component: 'releases' })),
      contracts,
      policy: options.policy,
      claims: adapters.claims,
      clock,
      logger: logger.child({ component: 'release-effects' }),
    });
    this.sweeps = new Sweeps(
      {
        service: this.service,
        agents: adapters.agents,
        notifier,
        claims: adapters.claims,
        clock,
        logger: logger.child({ component: 'sweeps' }),
        clusters: () => Object.keys(options.policy().clusters),
      },
      { ...DEFAULT_SWEEP_OPTIONS, ...options.sweeps },
    );
  }

  /** Replays the outbox, then starts consuming events, running gate jobs and sweeping. */
  async start(): Promise<void> {
    const { adapters, logger, clock } = this.options;
    await this.effects.drain();
    await this.releaseEffects.drain();
    const ingest = createEventIngest({
      service: this.service,
      samples: adapters.samples,
      agents: adapters.agents,
      clock,
      logger,
      releaseBudget: {
        services: () => Object.keys(this.options.policy().services),
        spend: (releaseId, samples) => this.releases.spendBudget(releaseId, samples),
      },
    });
    this.subscription = await adapters.events.subscribe((event) => {
      const age = (clock.now() - Date.parse(event.at)) / 1000;
      if (Number.isFinite(age))
        this.metrics.eventAge.observe({ type: event.type }, Math.max(0, age));
      return ingest(event);
    });
    const runGate = createGateRunner({
      service: this.service,
      samples: adapters.samples,
      clock,
      logger,
    });
    await adapters.scheduler.start((job, timing) => {
      if (timing) this.metrics.gateLag.observe(Math.max(0, clock.now() - timing.dueAt) / 1000);
      return runGate(job);
    });
    if (this.options.sweepTimer !== false) this.sweeps.start();
    // An effect that failed (a broker briefly down) stays in the outbox: retry it periodically.
    this.drainTimer = setInterval(() => {
      void this.effects.drain();
      void this.releaseEffects.drain().catch(() => undefined);
    }, 5_000);
    this.drainTimer.unref();
  }

  /**
   * Stops taking work, then carries out what is pending while the scheduler can still take it
   * (a `schedule_gate` effect needs its queue), and closes the scheduler last. A gate job still
   * running then commits without draining: its effects stay in the outbox for the next start.
   */
  async stop(): Promise<void> {
    this.sweeps.stop();
    if (this.drainTimer) clearInterval(this.drainTimer);
    await this.subscription?.stop();
    await this.effects.drain().catch(() => undefined);
    await this.releaseEffects.drain().catch(() => undefined);
    // Alerts on their way get a moment to arrive; one that does not stays in the outbox for the
    // next start (the notifier's own stop gives it up and frees its claim).
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.effects.idle(),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, ALERT_GRACE_MS))),
    ]);
    clearTimeout(timer);
    this.stopping = true;
    await this.options.adapters.scheduler.close();
  }
}
