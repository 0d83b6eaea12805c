import { generateKeyPairSync } from 'node:crypto';
import {
  Ed25519CommandSigner,
  Ed25519CommandVerifier,
  type CommandSigner,
  type CommandVerifier,
} from '../shared/messaging/command-signing.js';
import { RolloutAgent } from '../agent/agent.js';
import { createMetricsProvider } from '../agent/metrics/factory.js';
import { createRouter } from '../agent/routers/factory.js';
import { SimulatedCluster } from '../agent/simulation/simulated-cluster.js';
import type { Clock } from '../shared/clock.js';
import type { Policy } from '../shared/config/policy.js';
import type { Fault } from '../shared/config/simulation.js';
import { RolloutError } from '../shared/errors.js';
import { MemoryTopicBroker } from '../shared/adapters/memory-topic-broker.js';
import type { Logger } from '../shared/log.js';
import { TopicCommandBus } from '../shared/messaging/topic-command-bus.js';
import { TopicEventBus } from '../shared/messaging/topic-event-bus.js';
import type { Notifier } from '../shared/ports/notifier.js';
import { MemoryAgentRegistry } from '../bot/adapters/memory-agent-registry.js';
import { MemoryGateScheduler } from '../bot/adapters/memory-gate-scheduler.js';
import { MemoryHealthSampleStore } from '../bot/adapters/memory-health-samples.js';
import {
  LOCAL_MODE_VERDICT,
  MemoryContractChecks,
} from '../bot/adapters/memory-contract-checks.js';
import { MemoryOnceClaims } from '../bot/adapters/memory-once-claims.js';
import { MemoryReleaseStore } from '../bot/adapters/memory-release-store.js';
import { MemoryRolloutStore } from '../bot/adapters/memory-rollout-store.js';
import { MemoryServiceLocks } from '../bot/adapters/memory-service-locks.js';
import { BotRuntime, type BotAdapters, type BotRuntimeOptions } from '../bot/bot-runtime.js';
import { OperatorMetrics } from '../bot/operator-metrics.js';

export interface LocalModeOptions {
  policy: Policy;
  notifier: Notifier;
  clock: Clock;
  logger: Logger;
  /** Agent sampling and heartbeat intervals; short in tests. */
  samplingIntervalMs?: number;
  heartbeatIntervalMs?: number;
  sweeps?: BotRuntimeOptions['sweeps'];
  sweepTimer?: boolean;
  /** Pages on-call beside the notifier (PagerDuty, or its double in tests). */
  paging?: BotRuntimeOptions['paging'];
  /**
   * Adapters to use instead of the in-memory ones this mode creates: lets the Slack surface read
   * the same rollouts and health samples, and tests share stores between runs.
   */
  adapters?: Partial<
    Pick<
      BotAdapters,
      | 'store'
      | 'locks'
      | 'samples'
      | 'agents'
      | 'claims'
      | 'releases'
      | 'releaseNotifier'
      | 'contracts'
    >
  >;
}

export interface LocalMode {
  bot: BotRuntime;
  clusters: Map<string, SimulatedCluster>;
  agents: Map<string, RolloutAgent>;
  broker: MemoryTopicBroker;
  /** Faults of the simulated clusters, injected and cleared at runtime (the console's fault panel). */
  faults: SimulatedFaults;
  stop(): Promise<void>;
}

/** Runtime faults across the simulated clusters of local mode. */
export interface SimulatedFaults {
  /**
   * Adds `fault` (validated with `Fault`) to `cluster` and returns its id there. Throws a
   * `RolloutError` (`unknown_cluster`) for a cluster the policy does not declare.
   */
  inject(cluster: string, fault: Fault): string;
  /** Clears one fault of `cluster` by id, or all of its faults (configured ones too). Returns how many. */
  clear(cluster: string, id?: string): number;
  /** The faults in force, per cluster: those that name it or no cluster at all. */
  list(): { cluster: string; id: string; fault: Fault }[];
}

/**
 * Bot, scheduler and one simulated agent per configured cluster in one process, on the memory
 * adapters of the same ports the distributed mode uses: `npm start` with no services.
 */
export async function startLocalMode(options: LocalModeOptions): Promise<LocalMode> {
  const { policy, clock, logger } = options;
  const broker = new MemoryTopicBroker({ logger: logger.child({ component: 'broker' }) });
  const busOptions = { logger, clock };
  const metrics = new OperatorMetrics();
  // The bot's buses count what they dead-letter; the agents' are other processes in production.
  const botBusOptions = {
    ...busOptions,
    onDeadLetter: (letter: { topic: string; kind: string }) => metrics.deadLetters.inc(letter),
  };
  // Signed as in distributed mode, with a key pair that lives as long as the process.
  const keys = ephemeralSigningKeys();
  const bot = new BotRuntime({
    metrics,
    adapters: {
      store: new MemoryRolloutStore(),
      releases: new MemoryReleaseStore(),
      locks: new MemoryServiceLocks(clock),
      samples: new MemoryHealthSampleStore({ retentionMs: policy.retention.samples }),
      agents: new MemoryAgentRegistry(),
      claims: new MemoryOnceClaims(clock),
      // A tick's claim lasts an hour after it is due, as in distributed mode, or less when
      // finished rollouts go sooner: it need not outlive its rollout's record.
      scheduler: new MemoryGateScheduler({
        logger,
        retentionMs: Math.min(3_600_000, policy.retention.finishedRollouts),
      }),
      commands: new TopicCommandBus(broker, { ...botBusOptions, signer: keys.signer }),
      events: new TopicEventBus(broker, botBusOptions),
      notifier: options.notifier,
      // No CI publishes pacts for local mode: contracts count as compatible, and say so.
      // `npm start` with PACT_BROKER_URL set passes the broker instead.
      contracts: new MemoryContractChecks(LOCAL_MODE_VERDICT),
      ...options.adapters,
    },
    policy: () => policy,
    clock,
    logger,
    ...(options.sweeps ? { sweeps: options.sweeps } : {}),
    ...(options.sweepTimer !== undefined ? { sweepTimer: options.sweepTimer } : {}),
    ...(options.paging ? { paging: options.paging } : {}),
  });
  const clusters = new Map<string, SimulatedCluster>();
  const agents = new Map<string, RolloutAgent>();
  for (const name of Object.keys(policy.clusters)) {
    const cluster = new SimulatedCluster({
      name,
      services: servicesIn(policy, name),
      ...(policy.simulation ?? {}),
    });
    clusters.set(name, cluster);
    agents.set(
      name,
      new RolloutAgent({
        cluster: name,
        agentId: `local-${name}`,
        commands: new TopicCommandBus(broker, { ...busOptions, verifier: keys.verifier }),
        events: new TopicEventBus(broker, busOptions),
        router: createRouter({ type: 'simulated', cluster }),
        metrics: createMetricsProvider({ type: 'simulated', cluster }),
        clock,
        logger: logger.child({ component: 'agent', cluster: name }),
        samplingIntervalMs: options.samplingIntervalMs ?? 5_000,
        heartbeatIntervalMs: options.heartbeatIntervalMs ?? 10_000,
        services: Object.keys(servicesIn(policy, name)),
      }),
    );
  }
  for (const agent of agents.values()) await agent.start();
  await bot.start();
  return {
    bot,
    clusters,
    agents,
    broker,
    faults: simulatedFaults(clusters),
    async stop() {
      await bot.stop();
      for (const agent of agents.values()) await agent.stop();
      await broker.close();
    },
  };
}

function simulatedFaults(clusters: Map<string, SimulatedCluster>): SimulatedFaults {
  const named = (cluster: string): SimulatedCluster => {
    const found = clusters.get(cluster);
    if (!found) {
      throw new RolloutError(
        'unknown_cluster',
        `unknown cluster "${cluster}"; the policy's clusters are ${[...clusters.keys()].join(', ')}`,
      );
    }
    return found;
  };
  return {
    inject: (cluster, fault) => named(cluster).injectFault({ ...fault, cluster }),
    clear: (cluster, id) => named(cluster).clearFaults(id),
    list: () =>
      [...clusters].flatMap(([name, cluster]) =>
        cluster
          .listFaults()
          .filter(({ fault }) => fault.cluster === undefined || fault.cluster === name)
          .map(({ id, fault }) => ({ cluster: name, id, fault })),
      ),
  };
}

function servicesIn(policy: Policy, cluster: string): Record<string, { stableVersion: string }> {
  return Object.fromEntries(
    Object.entries(policy.services)
      .filter(([, s]) => s.clusters.includes(cluster))
      .map(([name, s]) => [name, { stableVersion: s.stableVersion }]),
  );
}

function ephemeralSigningKeys(): { signer: CommandSigner; verifier: CommandVerifier } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    signer: new Ed25519CommandSigner(
      privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    ),
    verifier: new Ed25519CommandVerifier(
      publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    ),
  };
}
