import { MemoryCardStore } from '../../bot/adapters/memory-card-store.js';
import { MemoryHealthSampleStore } from '../../bot/adapters/memory-health-samples.js';
import { MemoryOnceClaims } from '../../bot/adapters/memory-once-claims.js';
import { MemoryRolloutStore } from '../../bot/adapters/memory-rollout-store.js';
import { MemorySlackBudget } from '../../bot/adapters/memory-slack-budget.js';
import { startLocalMode, type LocalMode } from '../../local/local-mode.js';
import {
  createSlackSurface,
  EVENTS_PATH,
  type SlackSurface,
  type SlackSurfaceTuning,
} from '../../bot/slack/surface.js';
import type { ReadinessCheck } from '../../bot/slack/readiness.js';
import type { SweepOptions } from '../../bot/sweeps.js';
import { systemClock } from '../../shared/clock.js';
import { parsePolicy } from '../../shared/config/policy-loader.js';
import type { Fault } from '../../shared/config/simulation.js';
import { createLogger } from '../../shared/log.js';
import type { CardStore } from '../../shared/ports/card-store.js';
import type { Notifier, TransitionCause } from '../../shared/ports/notifier.js';
import type { OnceClaims } from '../../shared/ports/once-claims.js';
import type { SlackBudget, SlackLimits } from '../../shared/ports/slack-budget.js';
import type { AlertKind, RolloutState } from '../../shared/rollout/state.js';
import { SlackApiDouble } from './slack-api-double.js';
import { SLACK_GROUPS, slackPolicyYaml } from './slack-policy.js';
import { SlackRequests, type HttpSend } from './slack-requests.js';

export const BOT_TOKEN = 'xoxb-1111-2222-testbottokenvalue';
export const SIGNING_SECRET = 'test-signing-secret-5f1d2c9a';

export interface SlackProductOptions {
  faults?: Fault[];
  /** Bake per stage (`300ms` by default). */
  bake?: string;
  /** Default: in memory. The restart test passes Redis ones. */
  cards?: CardStore;
  claims?: OnceClaims;
  tuning?: SlackSurfaceTuning;
  logLevel?: string;
  /** Extra `/readyz` checks (what main.ts adds for Kafka and Redis). */
  readiness?: ReadinessCheck[];
  /** Sweep thresholds (silent agents, stuck rollouts); tests call `local.bot.sweeps.tick()`. */
  sweeps?: Partial<SweepOptions>;
  /** Another policy than slack-policy.ts's (the bench's many services). */
  policyYaml?: string;
  /** How often the simulated agents sample health; 50 ms by default. */
  samplingIntervalMs?: number;
  /** How `slack` sends its requests (the bench sends from another thread). */
  send?: HttpSend;
  /** The limits the Slack double enforces; `null`: none. Default `SLACK_DOUBLE_LIMITS`. */
  apiLimits?: SlackLimits | null;
  /** The product's Slack budget; default one in memory with Slack's published limits. */
  budget?: SlackBudget;
}

/**
 * What the double enforces by default: Slack's published limits (Tier 3 `chat.update` 50 a
 * minute, one post a second per channel) with the bursts Slack tolerates, a little more than the
 * bot allows itself: a product that keeps to its budget never sees a 429 from it.
 */
export const SLACK_DOUBLE_LIMITS: SlackLimits = {
  methods: { 'chat.update': { perMinute: 50, burst: 20 } },
  channelPosts: { perSecond: 1, burst: 5 },
};

/**
 * The product in local mode with its Slack surface in HTTP mode, talking to a Slack Web API
 * double: what the Slack end-to-end suites drive, only through the HTTP endpoint with signed
 * requests (`slack`) and by reading what the double received (`api`).
 */
export interface SlackProduct {
  api: SlackApiDouble;
  /** Signed requests to the surface's `/slack/events` (follows a surface restart). */
  readonly slack: SlackRequests;
  /** `http://127.0.0.1:<port>` of the surface (follows a surface restart). */
  readonly baseUrl: string;
  readonly surface: SlackSurface;
  local: LocalMode;
  /** Every log line (JSON) the product wrote. */
  logs: string[];
  /** Stops the Slack surface (letting it send what it queued) and starts a new one on the same stores. */
  restartSurface(): Promise<void>;
  stop(): Promise<void>;
}

export async function startSlackProduct(options: SlackProductOptions = {}): Promise<SlackProduct> {
  const logs: string[] = [];
  const logger = createLogger('rollout-test', options.logLevel ?? 'info', {
    write: (line: string) => void logs.push(line),
  });
  const apiLimits = options.apiLimits === undefined ? SLACK_DOUBLE_LIMITS : options.apiLimits;
  const api = await SlackApiDouble.start({
    token: BOT_TOKEN,
    userGroups: SLACK_GROUPS,
    ...(apiLimits ? { limits: apiLimits } : {}),
  });
  const policy = parsePolicy(
    options.policyYaml ?? slackPolicyYaml(options.faults, options.bake),
    'slack-policy.yaml',
  );
  const store = new MemoryRolloutStore();
  const samples = new MemoryHealthSampleStore();
  const cards = options.cards ?? new MemoryCardStore();
  const claims = options.claims ?? new MemoryOnceClaims(systemClock);
  // One budget for the surface and any restart of it, as replicas share theirs in Redis.
  const budget = options.budget ?? new MemorySlackBudget();
  const build = () =>
    createSlackSurface({
      env: {
        SLACK_BOT_TOKEN: BOT_TOKEN,
        SLACK_SIGNING_SECRET: SIGNING_SECRET,
        SLACK_API_URL: api.apiUrl,
        PORT: 0,
        HOST: '127.0.0.1',
      },
      policy: () => policy,
      store,
      samples,
      cards,
      claims,
      budget,
      logger,
      ...(options.readiness ? { readiness: options.readiness } : {}),
      tuning: { apiRetries: 0, processMetrics: false, ...options.tuning },
    });
  let surface = build();
  const notifier = new SwitchableNotifier(surface.notifier);
  const local = await startLocalMode({
    policy,
    notifier,
    clock: systemClock,
    logger,
    samplingIntervalMs: options.samplingIntervalMs ?? 50,
    heartbeatIntervalMs: 200,
    sweepTimer: false,
    ...(options.sweeps ? { sweeps: options.sweeps } : {}),
    adapters: { store, samples, releaseNotifier: surface.releaseNotifier },
  });
  let port = (await surface.start(local.bot.service, local.bot.releases)).port;
  const requests = () =>
    new SlackRequests({
      eventsUrl: `http://127.0.0.1:${port}${EVENTS_PATH}`,
      signingSecret: SIGNING_SECRET,
      api,
      ...(options.send ? { send: options.send } : {}),
    });
  let slack = requests();
  return {
    api,
    get slack() {
      return slack;
    },
    get baseUrl() {
      return `http://127.0.0.1:${port}`;
    },
    get surface() {
      return surface;
    },
    local,
    logs,
    async restartSurface() {
      await surface.stop();
      surface = build();
      notifier.target = surface.notifier;
      port = (await surface.start(local.bot.service, local.bot.releases)).port;
      slack = requests();
    },
    async stop() {
      await local.stop();
      await surface.stop(1_000);
      await api.close();
    },
  };
}

/** The runtime keeps one notifier; a restarted surface brings a new one. */
class SwitchableNotifier implements Notifier {
  constructor(public target: Notifier) {}

  rolloutChanged(state: RolloutState, cause: TransitionCause): Promise<void> {
    return this.target.rolloutChanged(state, cause);
  }

  alert(state: RolloutState, kind: AlertKind, message: string): Promise<void> {
    return this.target.alert(state, kind, message);
  }

  clusterAlert(cluster: string, message: string): Promise<void> {
    return this.target.clusterAlert(cluster, message);
  }
}
