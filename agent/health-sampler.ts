import type { Measurement, WebhookResult } from '../shared/contracts/events.js';
import type { Logger } from '../shared/log.js';
import type { EventBus } from '../shared/ports/buses.js';
import { describeError } from '../shared/errors.js';
import type { EventFactory } from './event-factory.js';
import type { MeasureQuery, MetricsProvider } from './metrics/metrics-provider.js';
import type { WebhookCheck } from '../shared/rollout/plan.js';
import type { RolloutTable, TrackedRollout } from './rollout-table.js';
import { runWebhook, type WebhookRunnerOptions } from './webhooks/webhook-runner.js';

export interface HealthSamplerOptions {
  metrics: MetricsProvider;
  events: EventBus;
  envelopes: EventFactory;
  table: RolloutTable;
  logger: Logger;
  /** The window each sample covers, in ms. */
  windowMs: number;
  /** This agent's cluster: webhooks are told where they judge. */
  cluster: string;
  /** How webhook checks are called (tests pass a fetch or a sleep). Default the global fetch. */
  webhooks?: WebhookRunnerOptions;
  /** The policy's webhook checks per service, for rollouts whose stages are unknown (`RolloutAgentOptions`). */
  webhooksByService?: Readonly<Record<string, readonly WebhookCheck[]>>;
}

/**
 * One `health_sample` per active rollout per call: canary and stable measured over the same
 * window, tagged with the rollout's current stage, with the results of the stage gate's webhook
 * checks run meanwhile (known from `start`; for a rollout recovered from its route after a
 * restart, whose stages are unknown, the policy's checks for the service). Rollouts whose stage is not known (found on a
 * route whose mark has no stage, before any command) are skipped. A failed publish is logged and
 * the next sample goes on: samples are periodic, a lost one is replaced by the next.
 */
export class HealthSampler {
  constructor(private readonly options: HealthSamplerOptions) {}

  async sampleAll(): Promise<void> {
    const due = this.options.table
      .active()
      .filter((r) => r.target !== undefined && r.stageIndex !== undefined);
    await Promise.all(due.map((rollout) => this.sample(rollout)));
  }

  private async sample(rollout: TrackedRollout): Promise<void> {
    const { target, stageIndex } = rollout;
    if (target === undefined || stageIndex === undefined) return;
    const { windowMs } = this.options;
    const [canary, stable, webhooks] = await Promise.all([
      this.measure({
        service: target.service,
        version: target.canaryVersion,
        role: 'canary',
        windowMs,
      }),
      this.measure({
        service: target.service,
        version: target.stableVersion,
        role: 'stable',
        windowMs,
      }),
      this.runWebhooks(rollout, stageIndex),
    ]);
    // The rollout may have ended (or moved on) while measuring: a sample must not follow its end.
    if (!rollout.active || rollout.stageIndex !== stageIndex) return;
    const { envelopes, events, logger } = this.options;
    const event = envelopes.event(
      'health_sample',
      { rolloutId: rollout.rolloutId, seq: envelopes.nextOwnSeq() },
      { stageIndex, windowMs, canary, stable, ...(webhooks.length > 0 && { webhooks }) },
    );
    try {
      await events.publish(event);
    } catch (err) {
      logger.warn(
        { rolloutId: rollout.rolloutId, err: describeError(err) },
        'cannot publish health sample',
      );
    }
  }

  /** Every webhook check of the stage's gate, concurrently; `runWebhook` never rejects. */
  private async runWebhooks(rollout: TrackedRollout, stageIndex: number): Promise<WebhookResult[]> {
    const stage = rollout.stages?.[stageIndex];
    const target = rollout.target;
    const checks =
      rollout.stages === undefined
        ? (this.options.webhooksByService?.[rollout.service] ?? [])
        : (stage?.gate.webhooks ?? []);
    if (target === undefined || checks.length === 0) return [];
    const call = {
      rolloutId: rollout.rolloutId,
      service: target.service,
      version: target.canaryVersion,
      stableVersion: target.stableVersion,
      cluster: this.options.cluster,
      stageIndex,
      // Unknown for a recovered rollout, until a command says; the route's weight is the truth.
      ...(stage !== undefined && { weight: stage.weight }),
      strategy: target.strategy,
    };
    return Promise.all(checks.map((check) => runWebhook(check, call, this.options.webhooks)));
  }

  /** The port never rejects; a provider that does anyway is reported unavailable, not thrown. */
  private async measure(query: MeasureQuery): Promise<Measurement> {
    try {
      return await this.options.metrics.measure(query);
    } catch (err) {
      return {
        status: 'unavailable',
        reason: `metrics provider failed: ${describeError(err) || 'unknown error'}`,
      };
    }
  }
}
