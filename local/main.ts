/**
 * `npm start`: local mode, for trying the product with no Slack workspace, Kafka or Redis. The bot,
 * its gate scheduler and one simulated agent per cluster of the policy run in this process on
 * memory adapters, and the local console (a page that behaves like the services' Slack channels,
 * plus a fault panel) is served on `PORT`/`HOST`. This file only wires: environment → policy →
 * `startConsoleMode`.
 *
 * It composes `bot/` and `agent/`; neither of them imports anything from here, and the bot and
 * agent images do not contain it. The console has no login, so it refuses to serve anything but a
 * loopback address and refuses to start beside a real Slack token (see `console/exposure.ts`).
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { PactBrokerChecks } from '../bot/adapters/pact-broker-checks.js';
import { loadPolicy, pagingFromEnv } from '../bot/main.js';
import type { Clock } from '../shared/clock.js';
import { BotEnv, parseEnv, runMode } from '../shared/config/env.js';
import { pactBrokerSettings } from '../shared/config/pact-broker.js';
import type { Policy } from '../shared/config/policy.js';
import { ConfigError, isRolloutError } from '../shared/errors.js';
import { exitGracefullyOnSignals } from '../shared/graceful-shutdown.js';
import { createLogger, type Logger } from '../shared/log.js';
import { startConsoleMode, type ConsoleMode } from './console/console-mode.js';
import { refuseExposedConsole } from './console/exposure.js';

const SHUTDOWN_TIMEOUT_MS = 30_000;

/**
 * Local mode as `npm start` runs it. Throws a `ConfigError` before anything starts when the
 * environment asks for something local mode is not: Kafka or Redis (that is `npm run bot`), a Slack
 * bot token, or a console on a non-loopback address.
 */
export async function startLocalConsole(options: {
  env: BotEnv;
  policy: Policy;
  logger: Logger;
  clock?: Clock;
}): Promise<{ console: ConsoleMode; url: string; description: string; stop(): Promise<void> }> {
  const { env, policy, logger } = options;
  if (runMode(env) !== 'local') {
    throw new ConfigError(
      env.KAFKA_BROKERS ? 'KAFKA_BROKERS' : 'REDIS_URL',
      '`npm start` runs local mode, in one process on memory adapters; with KAFKA_BROKERS and ' +
        'REDIS_URL set, run `npm run bot` and `npm run agent` (distributed mode), or unset both',
    );
  }
  refuseExposedConsole(env);
  const slackVariables = Object.entries(env)
    .filter(([key, value]) => key.startsWith('SLACK_') && value !== undefined)
    .map(([key]) => key);
  if (slackVariables.length > 0) {
    logger.warn(
      { variables: slackVariables },
      'local mode plays Slack itself in the local console: these variables are not used',
    );
  }
  // On-call's pager works in local mode too (a demo of a real integration, or its double).
  const paging = pagingFromEnv(env, policy, logger);
  // Without PACT_BROKER_URL local mode's contract checks all pass (LOCAL_MODE_VERDICT); with it,
  // releases ask that broker as in distributed mode.
  const pact = pactBrokerSettings(env, policy, 'local', (path) => readFileSync(path, 'utf8'));
  const contracts =
    pact && new PactBrokerChecks({ ...pact, logger: logger.child({ component: 'pact' }) });
  const local = {
    ...(paging && { paging }),
    ...(contracts && { adapters: { contracts } }),
  };
  const started = await startConsoleMode({
    policy,
    logger,
    ...(Object.keys(local).length > 0 && { local }),
    ...(options.clock ? { clock: options.clock } : {}),
    port: env.PORT,
    host: env.HOST,
  });
  const clusters = [...started.local.clusters.keys()].join(', ');
  return {
    console: started,
    url: started.url,
    description:
      `local mode: bot, gate scheduler and simulated agents for ${clusters} in this process, on memory ` +
      `adapters (no Kafka, Redis or Slack); the local console plays Slack at ${started.url}`,
    stop: () => started.stop(),
  };
}

export async function main(): Promise<void> {
  const env = parseEnv(BotEnv, process.env);
  runMode(env); // half a distributed configuration stops here, before anything starts
  const logger = createLogger('local', env.LOG_LEVEL);
  const policy = loadPolicy(env.ROLLOUT_CONFIG);
  const local = await startLocalConsole({ env, policy, logger });

  exitGracefullyOnSignals(logger, () => local.stop(), { timeoutMs: SHUTDOWN_TIMEOUT_MS });

  logger.info(
    { mode: 'local', policy: env.ROLLOUT_CONFIG, services: Object.keys(policy.services) },
    `running in ${local.description}`,
  );
  logger.info({ url: local.url }, `local console: ${local.url}`);
  process.stdout.write(
    `\nRollout ChatOps is running locally. Open the console: ${local.url}\n` +
      'Type `/rollout help` in its message box; Ctrl-C stops everything.\n\n',
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
    process.stderr.write(`npm start: ${text}\n`);
    process.exit(1);
  });
}
