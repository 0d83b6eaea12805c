/**
 * Distributed mode for end-to-end and fault suites: the Kafka test broker, a private Redis, a
 * policy file in a temporary directory, agent processes (`agent/main.ts`, one per cluster, each
 * with its simulated cluster's state file there) and the bot, either in this process (wired by
 * `connectDistributedAdapters`, as `npm run bot` is) or as a process of its own.
 */
import type { ReleaseNotifier } from '../../shared/ports/release-notifier.js';
import type { ContractChecks } from '../../shared/ports/contract-checks.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDistributedMode, type DistributedMode } from '../../bot/distributed-mode.js';
import { RecordingNotifier } from '../../bot/adapters/recording-notifier.js';
import type { SweepOptions } from '../../bot/sweeps.js';
import { SimulatedCluster, type RouteWrite } from '../../agent/simulation/simulated-cluster.js';
import { KafkaTopicBroker } from '../../shared/adapters/kafka-topic-broker.js';
import { systemClock } from '../../shared/clock.js';
import { parsePolicy } from '../../shared/config/policy-loader.js';
import type { Policy } from '../../shared/config/policy.js';
import type { Notifier } from '../../shared/ports/notifier.js';
import type { RolloutState } from '../../shared/rollout/state.js';
import { spawnEntry, type EntryProcess } from './entry-process.js';
import { writeSigningKeys, type SigningKeys } from './signing-keys.js';
import { startKafkaBroker, type KafkaTestBroker } from './kafka-broker.js';
import { startRedis, type RedisServer } from './redis-server.js';
import { TEST_DRAIN_TIMEOUT_MS, TEST_HANDLER_RETRY, testLogger } from './topic-brokers.js';
import { waitFor } from './wait-for.js';

/**
 * Consumer timings for the mock broker, in every process: a member that died is out of its group
 * within a few seconds, and an idle fetch (which the mock holds for its whole max wait) is short.
 */
export const TEST_KAFKA_TIMINGS = {
  sessionTimeoutMs: 3_000,
  heartbeatIntervalMs: 300,
  rebalanceTimeoutMs: 3_000,
  maxWaitTimeMs: 100,
};

export interface StackOptions {
  /** The policy file's text (e.g. `e2ePolicyYaml(faults)`). */
  policyYaml: string;
  /** Agent sampling interval. Default 50 ms. */
  samplingIntervalMs?: number;
  /** Kafka consumer timings of every process. Default `TEST_KAFKA_TIMINGS`. */
  kafkaTimings?: typeof TEST_KAFKA_TIMINGS;
}

export interface DistributedStack {
  kafka: KafkaTestBroker;
  redis: RedisServer;
  dir: string;
  policyFile: string;
  policy: Policy;
  /** The command signing keys every process of the stack uses (signing is on, as in production). */
  keys: SigningKeys;
  /** The environment of a bot or agent process on this stack. */
  env(extra?: Record<string, string>): Record<string, string>;
  /** Starts the agent process of `cluster` and waits until it consumes its commands. */
  startAgent(cluster: string): Promise<EntryProcess>;
  /**
   * Starts `bot/main.ts` in distributed mode and waits until it runs; `env` adds variables,
   * `preload` modules loaded before it (see `spawnEntry`).
   */
  startBotProcess(options?: {
    env?: Record<string, string>;
    preload?: string[];
  }): Promise<EntryProcess>;
  /** The bot in this process, with `notifier` and sweeps every second (or `sweeps`). */
  startBot(
    notifier: Notifier,
    sweeps?: Partial<SweepOptions>,
    releaseNotifier?: ReleaseNotifier,
    /** can-i-deploy for releases (absent: every contract check holds). */
    contracts?: ContractChecks,
  ): Promise<DistributedMode>;
  /**
   * The bot in this process (a recording notifier) and an agent process for every cluster of the
   * policy, started together: what most fault suites run against.
   */
  startBotAndAgents(
    sweeps?: Partial<SweepOptions>,
  ): Promise<{ bot: DistributedMode; agents: Record<string, EntryProcess> }>;
  /** A Kafka client of this test (closed by `stop`). */
  kafkaClient(clientId: string): KafkaTopicBroker;
  /** The cluster's route of `service` as the agent left it in its state file. */
  routerWeight(cluster: string, service: string): number | undefined;
  /** Every router write in the cluster, from its state file (see `SimulatedCluster.routeWrites`). */
  routeWrites(cluster: string): RouteWrite[];
  /** Stops everything started here (agents with SIGTERM), and removes the directory. */
  stop(): Promise<void>;
}

export async function startStack(options: StackOptions): Promise<DistributedStack> {
  const timings = options.kafkaTimings ?? TEST_KAFKA_TIMINGS;
  const [kafka, redis, dir] = await Promise.all([
    startKafkaBroker({ brokers: 1 }),
    startRedis(),
    mkdtemp(join(tmpdir(), 'rollout-e2e-')),
  ]);
  const policyFile = join(dir, 'policy.yaml');
  await writeFile(policyFile, options.policyYaml);
  const policy = parsePolicy(options.policyYaml, policyFile);
  const keys = await writeSigningKeys(dir);
  const processes: EntryProcess[] = [];
  const bots: DistributedMode[] = [];
  const clients: KafkaTopicBroker[] = [];
  const stateFile = (cluster: string) => join(dir, `cluster-${cluster}.json`);
  const readCluster = (cluster: string) =>
    new SimulatedCluster({ name: cluster, stateFile: stateFile(cluster) });

  const env = (extra: Record<string, string> = {}): Record<string, string> => ({
    KAFKA_BROKERS: kafka.bootstrap.join(','),
    REDIS_URL: redis.url,
    ROLLOUT_CONFIG: policyFile,
    LOG_LEVEL: process.env.TEST_CHILD_LOG_LEVEL ?? 'info',
    KAFKA_SESSION_TIMEOUT: `${timings.sessionTimeoutMs}ms`,
    KAFKA_HEARTBEAT_INTERVAL: `${timings.heartbeatIntervalMs}ms`,
    KAFKA_REBALANCE_TIMEOUT: `${timings.rebalanceTimeoutMs}ms`,
    KAFKA_MAX_WAIT: `${timings.maxWaitTimeMs}ms`,
    COMMAND_SIGNING_KEY_FILE: keys.privateKeyFile,
    COMMAND_VERIFY_KEY_FILE: keys.publicKeyFile,
    ...extra,
  });

  const stack: DistributedStack = {
    kafka,
    redis,
    dir,
    policyFile,
    policy,
    keys,
    env,
    async startAgent(cluster) {
      const agent = spawnEntry('agent/main.ts', {
        name: `agent ${cluster}`,
        env: env({
          AGENT_CLUSTER: cluster,
          AGENT_SAMPLING_INTERVAL: `${options.samplingIntervalMs ?? 50}ms`,
          AGENT_HEARTBEAT_INTERVAL: '500ms',
          PORT: '0',
          SIMULATION_STATE_FILE: stateFile(cluster),
        }),
        readyLine: /"msg":"agent running"/,
      });
      processes.push(agent);
      await agent.ready;
      return agent;
    },
    async startBotProcess(botOptions = {}) {
      const bot = spawnEntry('bot/main.ts', {
        name: 'bot',
        // A free port: another run on this machine (or an earlier bot) may hold the default one.
        env: env({ PORT: '0', ...botOptions.env }),
        readyLine: /"msg":"bot running in distributed mode/,
        ...(botOptions.preload ? { preload: botOptions.preload } : {}),
      });
      processes.push(bot);
      await bot.ready;
      return bot;
    },
    async startBot(notifier, sweeps = {}, releaseNotifier, contracts) {
      const bot = await startDistributedMode({
        policy,
        notifier,
        ...(contracts && { contracts }),
        ...(releaseNotifier && { releaseNotifier: () => releaseNotifier }),
        clock: systemClock,
        logger: testLogger,
        kafka: {
          clientId: 'bot-under-test',
          brokers: kafka.bootstrap,
          ...CLIENT_TIMINGS,
          consumer: timings,
        },
        redisUrl: redis.url,
        signer: keys.signer,
        sweeps: { intervalMs: 1_000, agentSilenceMs: 10_000, stuckAfterMs: 30_000, ...sweeps },
      });
      bots.push(bot);
      return bot;
    },
    async startBotAndAgents(sweeps = {}) {
      const clusters = Object.keys(policy.clusters);
      const [bot, ...agents] = await Promise.all([
        stack.startBot(new RecordingNotifier(), sweeps),
        ...clusters.map((cluster) => stack.startAgent(cluster)),
      ]);
      return {
        bot: bot as DistributedMode,
        agents: Object.fromEntries(clusters.map((c, i) => [c, agents[i] as EntryProcess])),
      };
    },
    kafkaClient(clientId) {
      const client = new KafkaTopicBroker({
        clientId,
        brokers: kafka.bootstrap,
        logger: testLogger,
        ...CLIENT_TIMINGS,
        consumer: timings,
      });
      clients.push(client);
      return client;
    },
    routerWeight: (cluster, service) => readCluster(cluster).route(service)?.canaryWeight,
    routeWrites: (cluster) => readCluster(cluster).routeWrites(),
    async stop() {
      await Promise.allSettled(bots.map((b) => b.stop()));
      await Promise.allSettled(processes.map((p) => p.kill('SIGTERM')));
      await Promise.allSettled(clients.map((c) => c.close()));
      await Promise.allSettled([kafka.stop(), redis.stop()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return stack;
}

/** Client timings of the in-process bot and test clients: quick to notice a problem. */
const CLIENT_TIMINGS = {
  connectionTimeoutMs: 1_000,
  requestTimeoutMs: 5_000,
  retry: { initialRetryTimeMs: 100, maxRetryTimeMs: 1_000, retries: 10 },
  handlerRetry: TEST_HANDLER_RETRY,
  drainTimeoutMs: TEST_DRAIN_TIMEOUT_MS,
};

/** Polls the rollout until it is in one of `statuses`, and returns it. */
export function waitForRollout(
  rollouts: { get(id: string): Promise<RolloutState | undefined> },
  rolloutId: string,
  statuses: readonly RolloutState['status'][],
  timeoutMs = 60_000,
): Promise<RolloutState> {
  return waitFor(
    async () => {
      const state = await rollouts.get(rolloutId);
      return state && statuses.includes(state.status) ? state : undefined;
    },
    { what: `rollout ${rolloutId} to reach ${statuses.join(' or ')}`, timeoutMs, intervalMs: 20 },
  );
}

export const FINISHED: readonly RolloutState['status'][] = [
  'succeeded',
  'rolled_back',
  'failed',
  'aborted',
];
