import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

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

  /** Registries shown on the same `/metrics` (the runtime's operator metrics). */
  private readonly included: Registry[] = [];

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
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
