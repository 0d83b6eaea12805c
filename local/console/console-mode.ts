import { randomBytes } from 'node:crypto';
import { systemClock, type Clock } from '../../shared/clock.js';
import type { Policy } from '../../shared/config/policy.js';
import { ConfigError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { MemoryCardStore } from '../../bot/adapters/memory-card-store.js';
import { MemoryHealthSampleStore } from '../../bot/adapters/memory-health-samples.js';
import { MemoryOnceClaims } from '../../bot/adapters/memory-once-claims.js';
import { MemoryRolloutStore } from '../../bot/adapters/memory-rollout-store.js';
import { startLocalMode, type LocalMode, type LocalModeOptions } from '../local-mode.js';
import { SLASH_COMMAND } from '../../bot/slack/bolt-handlers.js';
import {
  createSlackSurface,
  EVENTS_PATH,
  type SlackSurface,
  type SlackSurfaceTuning,
} from '../../bot/slack/surface.js';
import { consoleDirectory } from './console-directory.js';
import { ConsoleFeed } from './console-feed.js';
import { startConsoleServer, type ConsoleServer } from './console-server.js';
import { SlackEventSender } from './slack-event-sender.js';
import { refuseExposedConsole } from './exposure.js';
import { SlackWebApi } from './slack-web-api.js';

export interface ConsoleModeOptions {
  policy: Policy;
  logger: Logger;
  clock?: Clock;
  /** Where the console is served (`PORT`, `HOST`): the page and the health routes. */
  port: number;
  host: string;
  /**
   * Local mode's knobs (tests shorten the agents' intervals), and a contract checker to use
   * instead of local mode's (the Pact Broker when PACT_BROKER_URL is set).
   */
  local?: Pick<
    LocalModeOptions,
    'samplingIntervalMs' | 'heartbeatIntervalMs' | 'sweeps' | 'sweepTimer' | 'paging'
  > & { adapters?: Pick<NonNullable<LocalModeOptions['adapters']>, 'contracts'> };
  surface?: SlackSurfaceTuning;
}

export interface ConsoleMode {
  /** Open this: `http://localhost:3000/` by default. */
  url: string;
  port: number;
  local: LocalMode;
  surface: SlackSurface;
  api: SlackWebApi;
  /** Stops the console, the bot and its agents, then the Slack surface and its Web API. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Local mode as a person tries it, with no Slack workspace: the bot, its scheduler and the
 * simulated agents (`startLocalMode`), the real Slack surface (Bolt on `/slack/events`, on a
 * loopback port of its own) talking to an in-process Slack Web API with a token and signing
 * secret made up at start, and the console on `port`: a page that behaves like the services'
 * channels, sending what people type and click to the surface as signed Slack requests, and a
 * fault panel for the simulated clusters.
 */
export async function startConsoleMode(options: ConsoleModeOptions): Promise<ConsoleMode> {
  const { policy, logger } = options;
  refuseExposedConsole({ HOST: options.host }); // before anything starts
  const clock = options.clock ?? systemClock;
  const token = `xoxb-local-${randomBytes(16).toString('hex')}`;
  const signingSecret = randomBytes(32).toString('hex');
  const directory = consoleDirectory(policy);
  const api = await SlackWebApi.start({
    token,
    userGroups: directory.userGroups,
    maxRecordedCalls: 1_000,
  });
  const store = new MemoryRolloutStore();
  const samples = new MemoryHealthSampleStore();
  const claims = new MemoryOnceClaims(clock);
  const surface = createSlackSurface({
    env: {
      SLACK_BOT_TOKEN: token,
      SLACK_SIGNING_SECRET: signingSecret,
      SLACK_API_URL: api.apiUrl,
      // Only the console talks to it, from this process.
      PORT: 0,
      HOST: '127.0.0.1',
    },
    policy: () => policy,
    store,
    samples,
    cards: new MemoryCardStore(),
    claims,
    logger,
    ...(options.surface ? { tuning: options.surface } : {}),
  });
  const cleanup: (() => Promise<unknown>)[] = [() => api.close()];
  const undo = async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  };
  try {
    const local = await startLocalMode({
      policy,
      notifier: surface.notifier,
      clock,
      logger,
      ...options.local,
      // Merged, not replaced: the surface reads these stores (a contract checker may be added),
      // and the release card and thread go to the same Web API as the rollout cards.
      adapters: {
        store,
        samples,
        claims,
        releaseNotifier: surface.releaseNotifier,
        ...options.local?.adapters,
      },
    });
    cleanup.push(
      () => surface.stop(1_000),
      () => local.stop(),
    );
    surface.metrics.include(local.bot.metrics.registry);
    const { port: surfacePort } = await surface.start(local.bot.service, local.bot.releases);
    const feed = new ConsoleFeed(api);
    cleanup.push(async () => feed.close());
    const server: ConsoleServer = await startConsoleServer({
      port: options.port,
      host: options.host,
      api,
      feed,
      sender: new SlackEventSender({
        eventsUrl: `http://127.0.0.1:${surfacePort}${EVENTS_PATH}`,
        signingSecret,
        command: SLASH_COMMAND,
      }),
      directory,
      faults: local.faults,
      clusters: Object.keys(policy.clusters),
      services: Object.entries(policy.services).map(([name, s]) => ({
        name,
        clusters: s.clusters,
      })),
      surfaceUrl: `http://127.0.0.1:${surfacePort}`,
      command: SLASH_COMMAND,
      logger: logger.child({ component: 'console' }),
    }).catch((err: unknown) => {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE' || code === 'EACCES') {
        throw new ConfigError(
          'PORT',
          `${options.host}:${options.port} ${code === 'EADDRINUSE' ? 'is in use' : 'is not allowed'}; ` +
            'stop what uses it or set PORT to another port (0 picks a free one)',
        );
      }
      throw err;
    });
    cleanup.push(() => server.close());
    let stopping: Promise<void> | undefined;
    return {
      url: server.url,
      port: server.port,
      local,
      surface,
      api,
      stop: () => (stopping ??= undo()),
    };
  } catch (err) {
    await undo();
    throw err;
  }
}
