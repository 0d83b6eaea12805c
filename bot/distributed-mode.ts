import { Redis, type RedisOptions } from 'ioredis';
import {
  KafkaTopicBroker,
  type KafkaTopicBrokerOptions,
} from '../shared/adapters/kafka-topic-broker.js';
import type { Clock } from '../shared/clock.js';
import {
  BOT_EVENTS_GROUP,
  BOT_HEALTH_GROUP,
  EVENTS_TOPIC,
  HEALTH_TOPIC,
} from '../shared/contracts/topics.js';
import type { Policy } from '../shared/config/policy.js';
import type { Logger } from '../shared/log.js';
import type { CommandSigner } from '../shared/messaging/command-signing.js';
import { TopicCommandBus } from '../shared/messaging/topic-command-bus.js';
import { TopicEventBus } from '../shared/messaging/topic-event-bus.js';
import type { Notifier } from '../shared/ports/notifier.js';
import type { ReleaseNotifier } from '../shared/ports/release-notifier.js';
import type { ContractChecks } from '../shared/ports/contract-checks.js';
import {
  BullGateScheduler,
  type BullGateSchedulerOptions,
} from './adapters/bull-gate-scheduler.js';
import { RedisAgentRegistry } from './adapters/redis-agent-registry.js';
import { RedisHealthSampleStore } from './adapters/redis-health-samples.js';
import { RedisOnceClaims } from './adapters/redis-once-claims.js';
import { RedisReleaseStore } from './adapters/redis-release-store.js';
import { RedisRolloutStore } from './adapters/redis-rollout-store.js';
import { RedisServiceLocks } from './adapters/redis-service-locks.js';
import type { OperatorMetrics } from './operator-metrics.js';
import { BotRuntime, type BotAdapters, type BotRuntimeOptions } from './bot-runtime.js';

/** Agent events the bot handles at once, of different rollouts (see `recordsInFlight`). */
const EVENTS_IN_FLIGHT = 64;
export interface DistributedConnections {
  /** Kafka: bootstrap brokers and, optionally, timings other than the adapter's defaults. */
  kafka: Omit<KafkaTopicBrokerOptions, 'clientId' | 'logger'> & { clientId?: string };
  /** `redis://…`: rollouts, the outbox, locks, samples, heartbeats, claims and BullMQ. */
  redisUrl: string;
  /** How soon a gate job whose bot died mid-run runs again. Default: the scheduler's (30 s each). */
  gateJobs?: Pick<BullGateSchedulerOptions, 'lockDurationMs' | 'stalledIntervalMs' | 'concurrency'>;
  /** How long health samples are kept after the last one (the policy's `retention.samples`). */
  samplesRetentionMs?: number;
  /**
   * How long a gate tick stays claimed after it is due: the scheduler's hour, or less when the
   * policy keeps finished rollouts for less (a tick's claim need not outlive its rollout's record).
   */
  gateClaimsRetentionMs?: number;
  logger: Logger;
  clock: Clock;
  /** Signs every command (see `Ed25519CommandSigner`); without it commands go out unsigned. */
  signer?: CommandSigner;
  /** Counts what the buses dead-letter (and hands the runtime its metrics). */
  metrics?: OperatorMetrics;
}

/** The bot's adapters on Kafka, Redis and BullMQ, with the connections behind them. */
export interface DistributedAdapters {
  adapters: Omit<BotAdapters, 'notifier'>;
  broker: KafkaTopicBroker;
  redis: Redis;
  /** Closes the Kafka clients and the Redis connection (stop the runtime first). Idempotent. */
  close(): Promise<void>;
}

/** The bot's Redis client's options (the contract suites build their clients with them too). */
export const BOT_REDIS_OPTIONS = { enableAutoPipelining: true } as const satisfies RedisOptions;

/**
 * Opens the connections and builds every adapter but the notifier. Resolves once Redis answers,
 * so a wrong `REDIS_URL` fails at start rather than at the first rollout. Tests and the bench
 * use this to wrap an adapter before handing it to a `BotRuntime`.
 */
export async function connectDistributedAdapters(
  options: DistributedConnections,
): Promise<DistributedAdapters> {
  const { logger, clock } = options;
  // Commands issued in one turn of the event loop go out in one write: at 300 rollouts × 10
  // clusters a write per command was a tenth of the bot's CPU (socket writes), and the outbox and
  // the events consumer issue many at once. Only this client: BullMQ's connections block.
  const redis = new Redis(options.redisUrl, BOT_REDIS_OPTIONS);
  redis.on('error', (err) => logger.warn({ err }, 'redis connection error'));
  try {
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  const broker = new KafkaTopicBroker({
    clientId: 'rollout-bot',
    ...options.kafka,
    // Events of many rollouts share a partition: handled one at a time, a stage change of 300
    // rollouts × 10 clusters queued 750 deep per partition (15 s at p50 on the scale bench). Each
    // rollout's events stay in order (one key), and the commit waits for the slowest.
    consumer: { ...options.kafka.consumer, recordsInFlight: EVENTS_IN_FLIGHT },
    logger,
  });
  const busOptions = {
    logger,
    clock,
    ...(options.metrics && {
      onDeadLetter: (letter: { topic: string; kind: string }) =>
        options.metrics!.deadLetters.inc(letter),
    }),
  };
  let closing: Promise<void> | undefined;
  return {
    adapters: {
      store: new RedisRolloutStore(redis),
      releases: new RedisReleaseStore(redis),
      locks: new RedisServiceLocks(redis, undefined, clock),
      samples: new RedisHealthSampleStore(redis, undefined, options.samplesRetentionMs),
      agents: new RedisAgentRegistry(redis),
      claims: new RedisOnceClaims(redis),
      scheduler: new BullGateScheduler({
        url: options.redisUrl,
        ...options.gateJobs,
        ...(options.gateClaimsRetentionMs !== undefined && {
          retentionMs: options.gateClaimsRetentionMs,
        }),
        logger: logger.child({ component: 'gate-scheduler' }),
      }),
      commands: new TopicCommandBus(broker, {
        ...busOptions,
        ...(options.signer !== undefined && { signer: options.signer }),
      }),
      events: new TopicEventBus(broker, busOptions),
    },
    broker,
    redis,
    close() {
      closing ??= (async () => {
        await broker.close();
        await redis.quit().catch(() => redis.disconnect());
      })();
      return closing;
    },
  };
}

export interface DistributedModeOptions extends DistributedConnections {
  policy: Policy;
  /** Or a factory, for a notifier that needs the connected stores (the Slack surface does). */
  notifier: Notifier | ((connected: DistributedAdapters) => Notifier);
  /** The release card and thread; asked after `notifier` (a factory may read what it built). */
  releaseNotifier?: () => ReleaseNotifier | undefined;
  /** can-i-deploy for releases (the Pact Broker). Absent: every contract check holds. */
  contracts?: ContractChecks;
  sweeps?: BotRuntimeOptions['sweeps'];
  sweepTimer?: boolean;
  paging?: BotRuntimeOptions['paging'];
}

export interface DistributedMode {
  bot: BotRuntime;
  broker: KafkaTopicBroker;
  redis: Redis;
  /** Stops the runtime (consumer, gate worker, sweeps), then closes Kafka and Redis. Idempotent. */
  stop(): Promise<void>;
}

/** The gate scheduler's claim on a tick lasts an hour after it is due unless rollouts go sooner. */
const GATE_CLAIMS_MS = 3_600_000;

/**
 * The bot on Kafka, Redis and BullMQ: `npm run bot` with `KAFKA_BROKERS` and `REDIS_URL` set.
 * Agents run as their own processes (`npm run agent`), one deployment per cluster; any number
 * of bot replicas may run against the same Kafka and Redis.
 */
export async function startDistributedMode(
  options: DistributedModeOptions,
): Promise<DistributedMode> {
  const { policy, clock, logger } = options;
  const connected = await connectDistributedAdapters({
    ...options,
    samplesRetentionMs: policy.retention.samples,
    gateClaimsRetentionMs: Math.min(GATE_CLAIMS_MS, policy.retention.finishedRollouts),
  });
  // Events and health samples are read by groups of their own: either may fall behind alone.
  const lagOf = async (group: string, topic: string) =>
    (await connected.broker.consumerLag(group, topic)).map((p) => ({ topic, ...p }));
  options.metrics?.watchConsumerLag(async () => [
    ...(await lagOf(BOT_EVENTS_GROUP, EVENTS_TOPIC)),
    ...(await lagOf(BOT_HEALTH_GROUP, HEALTH_TOPIC)),
  ]);
  const bot = new BotRuntime({
    adapters: {
      ...connected.adapters,
      notifier:
        typeof options.notifier === 'function' ? options.notifier(connected) : options.notifier,
      ...(options.releaseNotifier && { releaseNotifier: options.releaseNotifier() }),
      ...(options.contracts && { contracts: options.contracts }),
    },
    policy: () => policy,
    clock,
    logger,
    ...(options.sweeps ? { sweeps: options.sweeps } : {}),
    ...(options.sweepTimer !== undefined ? { sweepTimer: options.sweepTimer } : {}),
    ...(options.paging ? { paging: options.paging } : {}),
    ...(options.metrics ? { metrics: options.metrics } : {}),
  });
  try {
    await bot.start();
  } catch (err) {
    await bot.stop().catch(() => undefined);
    await connected.close();
    throw err;
  }
  let stopping: Promise<void> | undefined;
  return {
    bot,
    broker: connected.broker,
    redis: connected.redis,
    stop() {
      stopping ??= (async () => {
        await bot.stop();
        await connected.close();
      })();
      return stopping;
    },
  };
}

/** A Redis URL without its credentials, for logs: `redis://host:port/db`. */
export function describeRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
  } catch {
    return '(unparseable REDIS_URL)';
  }
}
