import type { Measurement } from '../shared/contracts/events.js';
import type { Logger } from '../shared/log.js';
import type { EventBus } from '../shared/ports/buses.js';
import { describeError } from '../shared/errors.js';
import type { EventFactory } from './event-factory.js';
import type { MeasureQuery, MetricsProvider } from './metrics/metrics-provider.js';
import type { SequentialCheck, WebhookCheck } from '../shared/rollout/plan.js';
import type { RolloutTable, TrackedRollout } from './rollout-table.js';
import { WebhookChecks } from './webhooks/webhook-checks.js';
import { DependentHealth } from './dependent-health.js';
import type { TrafficRouter } from './routers/traffic-router.js';
import type { WebhookRunnerOptions } from './webhooks/webhook-runner.js';

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
  /**
   * The policy's sequential checks per service, for rollouts whose stages are unknown (recovered
   * from their route after a restart): their counts are still sent, or the judge hears nothing.
   */
  sequentialByService?: Readonly<Record<string, readonly SequentialCheck[]>>;
  /** Reads consumers' routes, for their versions (`DependentHealth`). */
  router: Pick<TrafficRouter, 'read'>;
  /** The consumers of each service in this cluster, for recovered rollouts (`DependentHealth`). */
  dependentsByService?: Readonly<Record<string, readonly string[]>>;
}

/**
 * One `health_sample` per active rollout per call: canary and stable measured over the same
 * window, tagged with the rollout's current stage, with the latest results of the stage gate's
 * webhook checks (see `WebhookChecks`; a sample waits for a round in flight at most half its
 * window). Rollouts whose stage is not known (found on a route whose mark has no stage, before
 * any command) are skipped. A failed publish is logged and
 * the next sample goes on: samples are periodic, a lost one is replaced by the next.
 */
export class HealthSampler {
  private readonly webhooks: WebhookChecks;
  private readonly dependents: DependentHealth;

  constructor(private readonly options: HealthSamplerOptions) {
    this.webhooks = new WebhookChecks({
      cluster: options.cluster,
      ...(options.webhooksByService !== undefined && {
        webhooksByService: options.webhooksByService,
      }),
      ...(options.webhooks !== undefined && { runner: options.webhooks }),
    });
    this.dependents = new DependentHealth({
      metrics: options.metrics,
      router: options.router,
      ...(options.dependentsByService !== undefined && {
        dependentsByService: options.dependentsByService,
      }),
    });
  }

  async sampleAll(): Promise<void> {
    const active = this.options.table.active();
    const ids = new Set(active.map((r) => r.rolloutId));
    this.webhooks.keepOnly(ids);
    this.dependents.keepOnly(ids);
    const due = active.filter((r) => r.target !== undefined && r.stageIndex !== undefined);
    await Promise.all(due.map((rollout) => this.sample(rollout)));
  }

  private async sample(rollout: TrackedRollout): Promise<void> {
    const { target, stageIndex } = rollout;
    if (target === undefined || stageIndex === undefined) return;
    const { windowMs } = this.options;
    const counts = countsWanted(
      rollout,
      stageIndex,
      this.options.sequentialByService?.[rollout.service] ?? [],
    );
    const [canary, stable, webhooks, dependents] = await Promise.all([
      this.measure({
        service: target.service,
        version: target.canaryVersion,
        role: 'canary',
        windowMs,
        ...counts,
      }),
      this.measure({
        service: target.service,
        version: target.stableVersion,
        role: 'stable',
        windowMs,
        ...counts,
      }),
      this.webhooks.resultsFor(rollout, stageIndex, Math.ceil(windowMs / 2)),
      this.dependents.measure(rollout, windowMs),
    ]);
    // The rollout may have ended (or moved on) while measuring: a sample must not follow its end.
    if (!rollout.active || rollout.stageIndex !== stageIndex) return;
    const { envelopes, events, logger } = this.options;
    const event = envelopes.event(
      'health_sample',
      { rolloutId: rollout.rolloutId, seq: envelopes.nextOwnSeq() },
      {
        stageIndex,
        windowMs,
        canary,
        stable,
        ...(webhooks.length > 0 && { webhooks }),
        ...(dependents.length > 0 && { dependents }),
      },
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

/**
 * Interval counts are asked for only when the stage (or, for a rollout whose stages this process
 * never saw, the policy) has sequential checks (a Prometheus provider
 * runs extra queries for them), with the latency bounds of its slow-request checks.
 */
function countsWanted(
  rollout: TrackedRollout,
  stageIndex: number,
  policyChecks: readonly SequentialCheck[],
): Pick<MeasureQuery, 'counts'> {
  // Stages come with `start`; a rollout recovered from its route after a restart has none, and
  // falls back on what the policy says now.
  const sequential =
    rollout.stages === undefined
      ? policyChecks
      : (rollout.stages[stageIndex]?.gate.sequential ?? []);
  if (sequential.length === 0) return {};
  const bounds = sequential.flatMap((c) =>
    c.latencyBoundMs === undefined ? [] : [c.latencyBoundMs],
  );
  return { counts: { slowBoundsMs: [...new Set(bounds)] } };
}
