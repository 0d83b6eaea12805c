/**
 * The bot process: `npm start` (local mode, everything in one process on memory adapters) and
 * `npm run bot` (distributed mode, with KAFKA_BROKERS and REDIS_URL). This file only wires:
 * environment → policy → notifier → the mode's adapters → `BotRuntime`.
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
  type RunMode,
} from '../shared/config/env.js';
import { parsePolicy } from '../shared/config/policy-loader.js';
import type { Policy } from '../shared/config/policy.js';
import { ConfigError, isRolloutError } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/log.js';
import { LogNotifier } from './adapters/log-notifier.js';
import type { BotRuntime } from './bot-runtime.js';
import { startConsoleMode } from './console/console-mode.js';
import { describeRedisUrl, startDistributedMode } from './distributed-mode.js';
import { RedisCardStore } from './adapters/redis-card-store.js';
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
  let surface: SlackSurface | undefined;
  let readiness: ReadinessCheck[] = [];
  const distributed = await startDistributedMode({
    policy,
    gateJobs: {
      ...(env.GATE_LOCK_DURATION !== undefined && {
        lockDurationMs: env.GATE_LOCK_DURATION,
      }),
      ...(env.GATE_STALLED_INTERVAL !== undefined && {
        stalledIntervalMs: env.GATE_STALLED_INTERVAL,
      }),
    },
    clock,
    logger,
    kafka: { brokers, consumer: kafkaConsumerTimings(env) },
    redisUrl,
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
        logger,
        readiness,
      });
      return surface.notifier;
    },
  });
  let http: { port: number; close?: () => Promise<void> };
  try {
    http = surface
      ? await surface.start(distributed.bot.service)
      : await startHealthServer({
          port: env.PORT,
          host: env.HOST,
          metrics: new SurfaceMetrics(),
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

/**
 * Local mode as `npm start` runs it: bot, scheduler and simulated agents in this process, and the
 * local console on `PORT`/`HOST` (a page that behaves like the services' Slack channels, plus a
 * fault panel), talking to the real Slack surface over signed requests.
 */
export async function startLocalConsole(options: {
  env: BotEnv;
  policy: Policy;
  logger: Logger;
  clock?: Clock;
}): Promise<RunningBot & { url: string }> {
  const { env, policy, logger } = options;
  const slackVariables = Object.entries(env)
    .filter(([key, value]) => key.startsWith('SLACK_') && value !== undefined)
    .map(([key]) => key);
  if (slackVariables.length > 0) {
    logger.warn(
      { variables: slackVariables },
      'local mode plays Slack itself in the local console: these variables are not used',
    );
  }
  const started = await startConsoleMode({
    policy,
    logger,
    ...(options.clock ? { clock: options.clock } : {}),
    port: env.PORT,
    host: env.HOST,
  });
  const clusters = [...started.local.clusters.keys()].join(', ');
  return {
    mode: 'local',
    runtime: started.local.bot,
    url: started.url,
    description:
      `local mode: bot, gate scheduler and simulated agents for ${clusters} in this process, on memory ` +
      `adapters (no Kafka, Redis or Slack); the local console plays Slack at ${started.url}`,
    stop: () => started.stop(),
  };
}

export async function main(): Promise<void> {
  const env = parseEnv(BotEnv, process.env);
  const mode = runMode(env); // half a distributed configuration stops here, before anything starts
  const logger = createLogger('bot', env.LOG_LEVEL);
  const policy = loadPolicy(env.ROLLOUT_CONFIG);
  const local = mode === 'local' ? await startLocalConsole({ env, policy, logger }) : undefined;
  const bot = local ?? (await startBot({ env, policy, logger }));

  exitGracefullyOnSignals(logger, () => bot.stop(), { timeoutMs: SHUTDOWN_TIMEOUT_MS });

  logger.info(
    { mode: bot.mode, policy: env.ROLLOUT_CONFIG, services: Object.keys(policy.services) },
    `bot running in ${bot.description}`,
  );
  if (local) {
    logger.info({ url: local.url }, `local console: ${local.url}`);
    process.stdout.write(
      `\nRollout ChatOps is running locally. Open the console: ${local.url}\n` +
        'Type `/rollout help` in its message box; Ctrl-C stops everything.\n\n',
    );
  }
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
