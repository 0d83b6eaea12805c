import type { BatchedHealthSample, Measurement } from '../shared/contracts/events.js';
import { splitSamples } from '../shared/messaging/health-batches.js';
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

/** What one rollout's sample measures this interval; the sampler measures all plans' queries together. */
interface SamplePlan {
  rollout: TrackedRollout;
  stageIndex: number;
  canary: MeasureQuery;
  stable: MeasureQuery;
}

/**
 * One `health_samples` batch per call (split when large, see `splitSamples`) with a sample per
 * active rollout: canary and stable measured over the same window, tagged with the rollout's
 * current stage, with the latest results of the stage gate's webhook checks (see
 * `WebhookChecks`; a sample waits for a round in flight at most half its window). Rollouts whose
 * stage is not known (found on a route whose mark has no stage, before any command) are skipped.
 * A failed publish is logged and the next batch goes on: samples are periodic, a lost one is
 * replaced by the next.
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
    const plans = active.flatMap((rollout) => {
      const plan = this.planFor(rollout);
      return plan ? [plan] : [];
    });
    if (plans.length === 0) return;
    // Every rollout's canary and stable in one call: the provider groups them (one Prometheus
    // query per metric per round, however many rollouts).
    const measured = await this.measureAll(plans.flatMap((p) => [p.canary, p.stable]));
    const samples = await Promise.all(
      plans.map((plan, i) => this.sample(plan, measured[2 * i]!, measured[2 * i + 1]!)),
    );
    await this.publish(samples.flatMap((s) => (s ? [s] : [])));
  }

  /** The queries of one rollout's sample; undefined while its target or stage is unknown. */
  private planFor(rollout: TrackedRollout): SamplePlan | undefined {
    const { target, stageIndex } = rollout;
    if (target === undefined || stageIndex === undefined) return undefined;
    const { windowMs } = this.options;
    const counts = countsWanted(
      rollout,
      stageIndex,
      this.options.sequentialByService?.[rollout.service] ?? [],
    );
    const query = (version: string, role: MeasureQuery['role']): MeasureQuery => ({
      service: target.service,
      version,
      role,
      windowMs,
      ...counts,
    });
    return {
      rollout,
      stageIndex,
      canary: query(target.canaryVersion, 'canary'),
      stable: query(target.stableVersion, 'stable'),
    };
  }

  private async sample(
    plan: SamplePlan,
    canary: Measurement,
    stable: Measurement,
  ): Promise<BatchedHealthSample | undefined> {
    const { rollout, stageIndex } = plan;
    const { windowMs, envelopes } = this.options;
    const [webhooks, dependents] = await Promise.all([
      this.webhooks.resultsFor(rollout, stageIndex, Math.ceil(windowMs / 2)),
      this.dependents.measure(rollout, windowMs),
    ]);
    // The rollout may have ended (or moved on) while measuring: a sample must not follow its end.
    if (!rollout.active || rollout.stageIndex !== stageIndex) return undefined;
    return {
      rolloutId: rollout.rolloutId,
      at: envelopes.now(),
      stageIndex,
      windowMs,
      canary,
      stable,
      ...(webhooks.length > 0 && { webhooks }),
      ...(dependents.length > 0 && { dependents }),
    };
  }

  /** One message per batch, one after another: keyed by cluster, they keep their order. */
  private async publish(samples: BatchedHealthSample[]): Promise<void> {
    const { envelopes, events, logger } = this.options;
    for (const batch of splitSamples(samples)) {
      const event = envelopes.event(
        'health_samples',
        { rolloutId: null, seq: envelopes.nextOwnSeq() },
        { samples: batch },
      );
      try {
        await events.publish(event);
      } catch (err) {
        logger.warn(
          { samples: batch.length, err: describeError(err) },
          'cannot publish health samples',
        );
      }
    }
  }

  /**
   * The port never rejects; a provider that does anyway (or answers with the wrong number of
   * measurements) is reported unavailable for every query, not thrown.
   */
  private async measureAll(queries: MeasureQuery[]): Promise<Measurement[]> {
    const failed = (reason: string): Measurement[] =>
      queries.map(() => ({ status: 'unavailable', reason: `metrics provider failed: ${reason}` }));
    try {
      const measured = await this.options.metrics.measureAll(queries);
      return measured.length === queries.length
        ? measured
        : failed(`${measured.length} measurements for ${queries.length} queries`);
    } catch (err) {
      return failed(describeError(err) || 'unknown error');
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
