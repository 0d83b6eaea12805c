import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

const SLACK_DELAY_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/**
 * What the bot's `/metrics` shows (Prometheus text format). One registry per surface rather than
 * prom-client's global one, so two surfaces in one process (tests, a restart) never collide.
 */
export class SurfaceMetrics {
  readonly registry = new Registry();

  readonly rolloutsStarted = new Counter({
    name: 'rollout_rollouts_started_total',
    help: 'Rollouts started from Slack, by service.',
    labelNames: ['service'] as const,
    registers: [this.registry],
  });

  readonly rolloutsEnded = new Counter({
    name: 'rollout_rollouts_ended_total',
    help: 'Rollouts that reached an end, by service and outcome (succeeded, rolled_back, aborted, failed).',
    labelNames: ['service', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly ackSeconds = new Histogram({
    name: 'rollout_slack_ack_seconds',
    help: 'From a Slack request arriving to its ack, by kind (command, action).',
    labelNames: ['kind'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  readonly commands = new Counter({
    name: 'rollout_slack_commands_total',
    help: 'Slash commands and button clicks handled, by subcommand and result (ok, refused, denied, error).',
    labelNames: ['subcommand', 'result'] as const,
    registers: [this.registry],
  });

  readonly apiCalls = new Counter({
    name: 'rollout_slack_api_calls_total',
    help: 'Slack Web API calls, by method and result (ok, rate_limited, error).',
    labelNames: ['method', 'result'] as const,
    registers: [this.registry],
  });

  readonly rateLimited = new Counter({
    name: 'rollout_slack_api_rate_limited_total',
    help: 'Slack Web API calls answered 429, by method.',
    labelNames: ['method'] as const,
    registers: [this.registry],
  });

  readonly requestsRefused = new Counter({
    name: 'rollout_slack_requests_refused_total',
    help: 'Requests to /slack/events refused before any handler ran, by reason (timestamp, signature).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  /**
   * How long each Slack call waited in this replica (budget, pacing, 429s, retries): from the
   * oldest change or message it delivers being queued to Slack taking it.
   */
  readonly slackQueueDelay = new Histogram({
    name: 'rollout_slack_queue_delay_seconds',
    help: 'From queuing to Slack taking the call, by kind (post, update, message) and priority (alert, transition, refresh, routine).',
    labelNames: ['kind', 'priority'] as const,
    buckets: SLACK_DELAY_BUCKETS,
    registers: [this.registry],
  });

  /** A card post or update: how old the newest change it shows was (a rollout's last transition). */
  readonly cardDelay = new Histogram({
    name: 'rollout_slack_card_delay_seconds',
    help: 'From the newest change a card post or update shows to Slack taking it.',
    buckets: SLACK_DELAY_BUCKETS,
    registers: [this.registry],
  });

  /** Registries shown on the same `/metrics` (the runtime's operator metrics). */
  private readonly included: Registry[] = [];

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /**
   * Gauges read at each scrape: what this replica's lanes hold, and the shared budget's line
   * (every replica's waiting calls; the same figure on each replica).
   */
  watchSlackQueue(
    depth: () => { cards: number; messages: number },
    waiting: () => Promise<number>,
  ): void {
    new Gauge({
      name: 'rollout_slack_queued',
      help: 'Slack work this replica holds: cards to update, messages to send.',
      labelNames: ['what'] as const,
      registers: [this.registry],
      collect() {
        const { cards, messages } = depth();
        this.set({ what: 'cards' }, cards);
        this.set({ what: 'messages' }, messages);
      },
    });
    new Gauge({
      name: 'rollout_slack_budget_waiting',
      help: 'Slack calls waiting for the shared budget, across replicas.',
      registers: [this.registry],
      async collect() {
        this.reset();
        const n = await waiting().catch(() => undefined);
        if (n !== undefined) this.set(n);
      },
    });
  }

  /** Shows `registry`'s metrics on this `/metrics` too (their names must not collide with ours). */
  include(registry: Registry): void {
    this.included.push(registry);
  }

  async text(): Promise<string> {
    const texts = await Promise.all([this.registry, ...this.included].map((r) => r.metrics()));
    return texts.join('\n');
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
