/**
 * The bot process, `npm run bot`: distributed mode only, with KAFKA_BROKERS and REDIS_URL. This file
 * only wires: environment → policy → notifier → distributed adapters → `BotRuntime`. Without Kafka
 * and Redis it refuses to start: local mode (`npm start`, `local/main.ts`) composes bot and agent
 * in one process and is not part of the bot (nothing here imports `local/` or `agent/`).
 */
import { exitGracefullyOnSignals } from '../shared/graceful-shutdown.js';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { systemClock, type Clock } from '../shared/clock.js';
import {
  BotEnv,
  kafkaConsumerTimings,
  parseEnv,
  runMode,
  slackLimits,
  type RunMode,
} from '../shared/config/env.js';
import { pactBrokerSettings } from '../shared/config/pact-broker.js';
import { parsePolicy } from '../shared/config/policy-loader.js';
import { commandSigner, kafkaSecurity } from '../shared/config/security.js';
import type { Policy } from '../shared/config/policy.js';
import { ConfigError, isRolloutError } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/log.js';
import { pagerRouting } from '../shared/config/pager-routing.js';
import { LogNotifier } from './adapters/log-notifier.js';
import { PagerDutyPager } from './adapters/pagerduty-pager.js';
import { PactBrokerChecks } from './adapters/pact-broker-checks.js';
import { OperatorMetrics } from './operator-metrics.js';
import type { BotRuntimeOptions } from './bot-runtime.js';
import type { BotRuntime } from './bot-runtime.js';
import { describeRedisUrl, startDistributedMode } from './distributed-mode.js';
import { RedisCardStore } from './adapters/redis-card-store.js';
import { RedisSlackBudget } from './adapters/redis-slack-budget.js';
import { startHealthServer } from './slack/health-routes.js';
import { SurfaceMetrics } from './slack/metrics.js';
import type { ReadinessCheck } from './slack/readiness.js';
import { createSlackSurface, type SlackSurface } from './slack/surface.js';

const SHUTDOWN_TIMEOUT_MS = 30_000;

/** Reads and validates the policy file; a `ConfigError` or `PolicyError` says what is wrong. */
export function loadPolicy(file: string): Policy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(
      'ROLLOUT_CONFIG',
      `cannot read the policy file ${file}: ${(err as Error).message} (config/policy.yaml is a commented example)`,
    );
  }
  return parsePolicy(text, file);
}

/**
 * PagerDuty paging from the environment and the policy, or undefined when no routing key is set
 * (paging is optional). A routing-key variable the policy names but the environment leaves unset
 * is a `ConfigError`. `lookup` reads the per-service variables (default: `process.env`).
 */
export function pagingFromEnv(
  env: Pick<BotEnv, 'PAGERDUTY_ROUTING_KEY' | 'PAGERDUTY_EVENTS_URL'>,
  policy: Policy,
  logger: Logger,
  lookup: (variable: string) => string | undefined = (variable) => process.env[variable],
): BotRuntimeOptions['paging'] {
  const routing = pagerRouting(policy, (variable) =>
    variable === 'PAGERDUTY_ROUTING_KEY' ? env.PAGERDUTY_ROUTING_KEY : lookup(variable),
  );
  if (!routing.enabled) return undefined;
  const paged = Object.keys(policy.services).filter((s) => routing.forService(s) !== undefined);
  // Which services page, never with what key.
  logger.info({ services: paged, eventsUrl: env.PAGERDUTY_EVENTS_URL }, 'PagerDuty paging on');
  return {
    routing,
    pager: new PagerDutyPager({
      eventsUrl: env.PAGERDUTY_EVENTS_URL,
      logger: logger.child({ component: 'pagerduty' }),
    }),
  };
}

function withOperatorMetrics(surface: SurfaceMetrics, operator: OperatorMetrics): SurfaceMetrics {
  surface.include(operator.registry);
  return surface;
}

export interface RunningBot {
  mode: RunMode;
  runtime: BotRuntime;
  /** One line for the log: the mode and what it runs on or connected to, no secrets. */
  description: string;
  /** Stops the runtime and closes every connection. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Distributed mode as `npm run bot` runs it. ─── Where the notifier is chosen ───
 * With `SLACK_BOT_TOKEN` the Slack surface tells people (card, thread, alerts) and its Bolt app
 * serves `/slack/events` plus the health routes on PORT; without it a log notifier stands in and
 * the health routes get a server of their own. (Local mode plays Slack in the local console.)
 */
export async function startBot(options: {
  env: BotEnv;
  policy: Policy;
  logger: Logger;
  clock?: Clock;
}): Promise<RunningBot> {
  const { env, policy, logger } = options;
  const clock = options.clock ?? systemClock;
  if (runMode(env) !== 'distributed') {
    throw new ConfigError(
      'KAFKA_BROKERS',
      'startBot runs distributed mode: set KAFKA_BROKERS and REDIS_URL',
    );
  }
  const brokers = env.KAFKA_BROKERS!;
  const redisUrl = env.REDIS_URL!;
  const readText = (path: string) => readFileSync(path, 'utf8');
  // A policy naming contract checks without a broker stops the bot here rather than holding the
  // first release; releases ask the broker before they start and before each consumer starts.
  const pact = pactBrokerSettings(env, policy, 'distributed', readText);
  if (pact !== undefined) {
    logger.info(
      { url: pact.url, withToken: pact.token !== undefined },
      'contract checks ask the Pact Broker',
    );
  }
  const security = kafkaSecurity(env, readText);
  const signer = commandSigner(env, readText);
  if (signer === undefined) {
    logger.warn(
      'COMMAND_SIGNING=off: commands go out unsigned, and agents that check signatures refuse them; anyone who can write a command topic can move traffic',
    );
  }
  let surface: SlackSurface | undefined;
  let readiness: ReadinessCheck[] = [];
  const paging = pagingFromEnv(env, policy, logger);
  const metrics = new OperatorMetrics();
  const distributed = await startDistributedMode({
    policy,
    gateJobs: {
      concurrency: env.GATE_CONCURRENCY,
      ...(env.GATE_LOCK_DURATION !== undefined && {
        lockDurationMs: env.GATE_LOCK_DURATION,
      }),
      ...(env.GATE_STALLED_INTERVAL !== undefined && {
        stalledIntervalMs: env.GATE_STALLED_INTERVAL,
      }),
    },
    clock,
    logger,
    metrics,
    ...(paging && { paging }),
    kafka: { brokers, consumer: kafkaConsumerTimings(env), ...security },
    redisUrl,
    ...(signer !== undefined && { signer }),
    ...(pact !== undefined && {
      contracts: new PactBrokerChecks({ ...pact, logger: logger.child({ component: 'pact' }) }),
    }),
    notifier: (connected) => {
      readiness = [
        { name: 'redis', check: async () => void (await connected.redis.ping()) },
        { name: 'kafka', check: () => connected.broker.ping() },
      ];
      if (!env.SLACK_BOT_TOKEN) return new LogNotifier(logger.child({ component: 'notifier' }));
      surface = createSlackSurface({
        env,
        policy: () => policy,
        store: connected.adapters.store,
        samples: connected.adapters.samples,
        claims: connected.adapters.claims,
        cards: new RedisCardStore(connected.redis),
        budget: new RedisSlackBudget(connected.redis, slackLimits(env)),
        logger,
        readiness,
      });
      return surface.notifier;
    },
    releaseNotifier: () => surface?.releaseNotifier,
  });
  surface?.metrics.include(metrics.registry);
  let http: { port: number; close?: () => Promise<void> };
  try {
    http = surface
      ? await surface.start(distributed.bot.service, distributed.bot.releases)
      : await startHealthServer({
          port: env.PORT,
          host: env.HOST,
          metrics: withOperatorMetrics(new SurfaceMetrics(), metrics),
          readiness: () => readiness,
          logger,
        });
  } catch (err) {
    await distributed.stop();
    throw err;
  }
  let stopping: Promise<void> | undefined;
  return {
    mode: 'distributed',
    runtime: distributed.bot,
    description:
      `distributed mode: Kafka ${brokers.join(',')}, Redis ${describeRedisUrl(redisUrl)}, ` +
      (surface
        ? `Slack (${surface.mode} mode)`
        : 'no Slack (SLACK_BOT_TOKEN unset: notices go to the log)') +
      `, HTTP on ${env.HOST}:${http.port}`,
    stop() {
      stopping ??= (async () => {
        await distributed.bot.stop();
        await surface?.stop();
        await http.close?.();
        await distributed.stop();
      })();
      return stopping;
    },
  };
}

export async function main(): Promise<void> {
  const env = parseEnv(BotEnv, process.env);
  // Half a distributed configuration stops here (runMode names the missing variable), and so does
  // none at all: the bot has no local mode of its own.
  if (runMode(env) !== 'distributed') {
    throw new ConfigError(
      'KAFKA_BROKERS',
      '`npm run bot` runs distributed mode and needs KAFKA_BROKERS and REDIS_URL; to try the ' +
        'product locally without them, run `npm start` (local mode)',
    );
  }
  const logger = createLogger('bot', env.LOG_LEVEL);
  const policy = loadPolicy(env.ROLLOUT_CONFIG);
  const bot = await startBot({ env, policy, logger });

  exitGracefullyOnSignals(logger, () => bot.stop(), { timeoutMs: SHUTDOWN_TIMEOUT_MS });

  logger.info(
    { mode: bot.mode, policy: env.ROLLOUT_CONFIG, services: Object.keys(policy.services) },
    `bot running in ${bot.description}`,
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    // Our own errors (a bad variable or policy file) say what to fix: the message is enough.
    const text = isRolloutError(err)
      ? err.message
      : err instanceof Error
        ? (err.stack ?? err.message)
        : String(err);
    process.stderr.write(`bot: ${text}\n`);
    process.exit(1);
  });
}
