import type { Server } from 'node:http';
import type { ReleaseService } from '../release-service.js';
import { systemClock } from '../../shared/clock.js';
import { releaseCardRenderer, releaseIdOfCard, SlackReleaseNotifier } from './release-notifier.js';
import type { AddressInfo } from 'node:net';
import { App, HTTPReceiver, SocketModeReceiver, webApi, type Receiver } from '@slack/bolt';
import type { BotEnv } from '../../shared/config/env.js';
import type { Policy } from '../../shared/config/policy.js';
import { ConfigError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { CardStore } from '../../shared/ports/card-store.js';
import type { HealthSampleStore } from '../../shared/ports/health-samples.js';
import type { OnceClaims } from '../../shared/ports/once-claims.js';
import type { RolloutStore } from '../../shared/ports/rollout-store.js';
import {
  DEFAULT_SLACK_LIMITS,
  type SlackBudget,
  type SlackLimits,
} from '../../shared/ports/slack-budget.js';
import { MemorySlackBudget } from '../adapters/memory-slack-budget.js';
import type { RolloutService } from '../rollout-service.js';
import { boltLogger } from './bolt-logger.js';
import { registerHandlers } from './bolt-handlers.js';
import { CardLanes, type CardSent } from './card-lanes.js';
import { healthRoutes, startHealthServer } from './health-routes.js';
import { SurfaceMetrics } from './metrics.js';
import { cachedCheck, type ReadinessCheck } from './readiness.js';
import { arrivalOf, guardRequests } from './request-guard.js';
import { RolloutCommands } from './rollout-commands.js';
import { SlackCalls, type RetryAfterBounds } from './slack-calls.js';
import { cardRenderer, SlackNotifier } from './slack-notifier.js';
import { UserGroups } from './user-groups.js';

/** Bolt's events endpoint: slash commands and interactivity both post here. */
export const EVENTS_PATH = '/slack/events';

export type SlackEnv = Pick<
  BotEnv,
  'SLACK_BOT_TOKEN' | 'SLACK_SIGNING_SECRET' | 'SLACK_APP_TOKEN' | 'SLACK_API_URL' | 'PORT' | 'HOST'
>;

/** Knobs with production defaults; tests and the bench shorten or switch them. */
export interface SlackSurfaceTuning {
  /** At most one `chat.update` per card in this many ms. Default 1000. */
  cardUpdateIntervalMs?: number;
  /** The Web API client's retries of failed requests (never of 429s, which we handle). Default 2. */
  apiRetries?: number;
  /** Web API request timeout. Default 10 s. */
  apiTimeoutMs?: number;
  /** How long user group members are cached. Default 60 s. */
  groupCacheMs?: number;
  /** How long `/readyz` reuses Slack's last `auth.test` answer. Default 30 s (5 s after a failure). */
  slackCheckCacheMs?: number;
  /** Node process metrics on `/metrics`. Default true. */
  processMetrics?: boolean;
  /** Told of each card post and update as it is sent (see `CardLanesOptions.onCardSent`). */
  onCardSent?: (sent: CardSent) => void;
  /** Slack's limits the budget keeps to, when the surface makes its own (in memory). Default: Slack's published ones. */
  slackLimits?: SlackLimits;
  /** How a 429's Retry-After is read (default 5 s when missing or unreadable, at most 120 s). */
  retryAfter?: Partial<RetryAfterBounds>;
}

export interface SlackSurfaceOptions {
  env: SlackEnv;
  policy: () => Policy;
  /** The rollouts, read when a card is rendered (the latest state always wins). */
  store: Pick<RolloutStore, 'get'>;
  samples: HealthSampleStore;
  cards: CardStore;
  claims: OnceClaims;
  /**
   * The Slack budget shared by every replica (Redis in distributed mode). Default: one in memory
   * for this process, with `tuning.slackLimits`.
   */
  budget?: SlackBudget;
  logger: Logger;
  /** Kafka and Redis checks for `/readyz`; Slack's is added here. */
  readiness?: readonly ReadinessCheck[];
  tuning?: SlackSurfaceTuning;
}

export interface SlackSurface {
  readonly mode: 'http' | 'socket';
  /** Hand this to the bot runtime as its `notifier`. */
  readonly notifier: SlackNotifier;
  /** Hand this to the bot runtime as its `releaseNotifier`: the release card and thread. */
  readonly releaseNotifier: SlackReleaseNotifier;
  readonly metrics: SurfaceMetrics;
  /** Serves `/slack/events` (or connects Socket Mode) and the health routes; resolves with the HTTP port. */
  start(service: RolloutService, releases?: ReleaseService): Promise<{ port: number }>;
  /** Resolves once every card update and message queued so far has been sent or given up. */
  idle(): Promise<void>;
  /** Stops serving, then lets queued Slack calls finish for up to `graceMs` (default 5 s). */
  stop(graceMs?: number): Promise<void>;
}

/**
 * The Slack surface: Bolt (HTTP mode on `/slack/events`, or Socket Mode when `SLACK_APP_TOKEN`
 * is set), `/rollout` and the card's buttons, the Slack notifier, and `/healthz`, `/readyz`,
 * `/metrics` on the same port. Built in two steps because the bot runtime needs the notifier
 * before the rollout service exists: create, hand `notifier` to the runtime, then `start(service)`.
 * Fails at once, naming the variable, when the configuration cannot work.
 */
export function createSlackSurface(options: SlackSurfaceOptions): SlackSurface {
  const { env, logger, tuning = {} } = options;
  const token = env.SLACK_BOT_TOKEN;
  if (!token) {
    throw new ConfigError(
      'SLACK_BOT_TOKEN',
      'is not set: the Slack surface needs the bot token (xoxb-…) from the app’s OAuth & Permissions page',
    );
  }
  const mode = env.SLACK_APP_TOKEN ? 'socket' : 'http';
  if (mode === 'http' && !env.SLACK_SIGNING_SECRET) {
    throw new ConfigError(
      'SLACK_SIGNING_SECRET',
      'is not set: HTTP mode needs it to verify that requests come from Slack (Basic Information → Signing Secret); ' +
        'or set SLACK_APP_TOKEN to use Socket Mode',
    );
  }
  const log = logger.child({ component: 'slack' });
  const secrets = [token, env.SLACK_SIGNING_SECRET, env.SLACK_APP_TOKEN].filter(
    (s): s is string => !!s,
  );
  const libraryLog = boltLogger(log.child({ component: 'bolt' }), secrets);
  const clientOptions: webApi.WebClientOptions = {
    ...(env.SLACK_API_URL ? { slackApiUrl: withSlash(env.SLACK_API_URL) } : {}),
    logger: libraryLog,
    retryConfig: { retries: tuning.apiRetries ?? 2, factor: 2, minTimeout: 500, maxTimeout: 5_000 },
    rejectRateLimitedCalls: true,
    timeout: tuning.apiTimeoutMs ?? 10_000,
  };
  const metrics = new SurfaceMetrics({ processMetrics: tuning.processMetrics ?? true });
  const calls = new SlackCalls(
    new webApi.WebClient(token, clientOptions),
    metrics,
    tuning.retryAfter,
  );
  const budget =
    options.budget ?? new MemorySlackBudget(tuning.slackLimits ?? DEFAULT_SLACK_LIMITS);
  // Release cards share the rollout cards' lanes (`release:<id>`); the releases are known from
  // `start`, and no release exists before it.
  let releasesForCards: ReleaseService | undefined;
  const renderRollout = cardRenderer({ ...options, logger: log });
  const renderRelease = releaseCardRenderer({
    releases: () => releasesForCards,
    policy: options.policy,
    clock: systemClock,
  });
  const lanes = new CardLanes({
    calls,
    budget,
    onDelivered: (d) => {
      metrics.slackQueueDelay.observe({ kind: d.kind, priority: d.priority }, d.queuedMs / 1000);
      if (d.latestMs !== undefined) metrics.cardDelay.observe(d.latestMs / 1000);
    },
    cards: options.cards,
    claims: options.claims,
    render: async (cardId) => {
      const releaseId = releaseIdOfCard(cardId);
      return releaseId === undefined ? renderRollout(cardId) : renderRelease(releaseId);
    },
    logger: log,
    ...(tuning.cardUpdateIntervalMs !== undefined
      ? { updateIntervalMs: tuning.cardUpdateIntervalMs }
      : {}),
    ...(tuning.onCardSent ? { onCardSent: tuning.onCardSent } : {}),
  });
  metrics.watchSlackQueue(
    () => lanes.depth(),
    () => budget.waiting(),
  );
  const notifier = new SlackNotifier({
    lanes,
    cards: options.cards,
    claims: options.claims,
    policy: options.policy,
    metrics,
    logger: log,
  });
  const slackReachable = cachedCheck('slack', () => calls.authTest(), {
    okMs: tuning.slackCheckCacheMs ?? 30_000,
    failMs: Math.min(tuning.slackCheckCacheMs ?? 5_000, 5_000),
  });
  const health = {
    metrics,
    readiness: () => [...(options.readiness ?? []), slackReachable],
    logger: log,
  };

  let app: App | undefined;
  let healthServer: { close(): Promise<void> } | undefined;

  const releaseNotifier = new SlackReleaseNotifier({
    lanes,
    cards: options.cards,
    policy: options.policy,
    logger: log,
  });

  return {
    mode,
    notifier,
    releaseNotifier,
    metrics,
    async start(service, releases) {
      if (app) throw new Error('the Slack surface is already started');
      releasesForCards = releases;
      const receiver: Receiver =
        mode === 'http'
          ? guardedHttpReceiver(
              env.SLACK_SIGNING_SECRET!,
              healthRoutes(health),
              metrics,
              log,
              libraryLog,
            )
          : new SocketModeReceiver({
              appToken: env.SLACK_APP_TOKEN!,
              logger: libraryLog,
              installerOptions: { clientOptions },
            });
      app = new App({
        receiver,
        // A single workspace: every request runs with the bot token, and no auth.test is needed
        // before the first ack (we handle no events, so Bolt's bot-id checks never apply).
        authorize: async () => ({ botToken: token }),
        logger: libraryLog,
        clientOptions,
        convoStore: false,
      });
      registerHandlers(app, {
        commands: new RolloutCommands({
          service,
          ...(releases && { releases }),
          policy: options.policy,
          groups: new UserGroups(calls, options.policy, log, tuning.groupCacheMs),
          samples: options.samples,
          metrics,
          logger: log,
        }),
        cards: options.cards,
        metrics,
        logger: log,
      });
      let port: number;
      if (mode === 'http') {
        const server = (await app.start({ port: env.PORT, host: env.HOST })) as Server;
        port = (server.address() as AddressInfo).port;
      } else {
        // Bolt's Socket Mode HTTP server ignores HOST and does not report its port: serve ours.
        await app.start();
        const server = await startHealthServer({ ...health, port: env.PORT, host: env.HOST });
        healthServer = server;
        port = server.port;
      }
      log.info({ mode, port }, 'Slack surface started');
      // Bring the cards of running rollouts up to date (a restart may have missed updates).
      void service
        .list()
        .then((active) => active.forEach((s) => lanes.refresh(s.id)))
        .catch((err: unknown) => log.warn({ err }, 'could not refresh the cards at start'));
      return { port };
    },
    idle: () => lanes.idle(),
    async stop(graceMs = 5_000) {
      await app?.stop().catch((err: unknown) => log.warn({ err }, 'stopping Bolt failed'));
      app = undefined;
      await healthServer?.close();
      healthServer = undefined;
      await lanes.stop(graceMs);
    },
  };
}

function guardedHttpReceiver(
  signingSecret: string,
  routes: ReturnType<typeof healthRoutes>,
  metrics: SurfaceMetrics,
  logger: Logger,
  libraryLog: ReturnType<typeof boltLogger>,
): HTTPReceiver {
  const receiver = new HTTPReceiver({
    signingSecret,
    endpoints: EVENTS_PATH,
    customRoutes: routes,
    logger: libraryLog,
    customPropertiesExtractor: arrivalOf,
  });
  receiver.requestListener = guardRequests(receiver.requestListener, {
    endpoint: EVENTS_PATH,
    metrics,
    logger,
  });
  return receiver;
}

function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}
