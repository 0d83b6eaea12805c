import type { DependentSample, Measurement } from '../shared/contracts/events.js';
import { describeError } from '../shared/errors.js';
import type { MetricsProvider } from './metrics/metrics-provider.js';
import type { TrafficRouter } from './routers/traffic-router.js';
import type { TrackedRollout } from './rollout-table.js';

export interface DependentHealthOptions {
  metrics: Pick<MetricsProvider, 'measure'>;
  router: Pick<TrafficRouter, 'read'>;
  /**
   * The consumers of each service in this cluster, from the policy: used for rollouts whose
   * `start` this process never saw (recovered from their route after a restart).
   */
  dependentsByService?: Readonly<Record<string, readonly string[]>>;
}

/**
 * Measures the stable traffic of the consumers of a service under rollout in this cluster
 * (`StartPayload.dependents`), for the gate's dependency checks (`judgeDependents`). A consumer's
 * first measurement in a rollout is kept as its baseline and sent with each later one; a new
 * version of the consumer starts a new baseline, so a change of its own is never compared with
 * the old one. Memory only: after a restart the baseline is the first window after it.
 */
export class DependentHealth {
  /** Per rollout, per consumer: the version and measurement of its first window. */
  private readonly baselines = new Map<string, Map<string, { version: string; m: Measurement }>>();

  constructor(private readonly options: DependentHealthOptions) {}

  /** The consumers of the rollout's service to watch here: from its `start`, else the policy. */
  watched(rollout: TrackedRollout): readonly string[] {
    return rollout.dependents ?? this.options.dependentsByService?.[rollout.service] ?? [];
  }

  /** Forgets the baselines of rollouts no longer active. */
  keepOnly(active: ReadonlySet<string>): void {
    for (const id of this.baselines.keys()) if (!active.has(id)) this.baselines.delete(id);
  }

  /** One `DependentSample` per watched consumer; never rejects (a failure is `unavailable`). */
  async measure(rollout: TrackedRollout, windowMs: number): Promise<DependentSample[]> {
    const consumers = this.watched(rollout).filter((c) => c !== rollout.service);
    return Promise.all(consumers.map((service) => this.measureOne(rollout, service, windowMs)));
  }

  private async measureOne(
    rollout: TrackedRollout,
    service: string,
    windowMs: number,
  ): Promise<DependentSample> {
    let route;
    try {
      route = await this.options.router.read(service);
    } catch (err) {
      return unavailableSample(service, `cannot read its route: ${describeError(err)}`);
    }
    if (route === undefined) {
      return unavailableSample(service, 'no route for it in this cluster');
    }
    const version = route.stableVersion;
    // A consumer mid-rollout of its own here changes by itself: nothing can be pinned on ours.
    if (route.canaryVersion !== undefined && route.canaryVersion !== version) {
      return { service, version, measurement: unmeasured(), changing: true };
    }
    const measurement = await this.safeMeasure({ service, version, role: 'stable', windowMs });
    const byConsumer = this.baselines.get(rollout.rolloutId) ?? new Map();
    this.baselines.set(rollout.rolloutId, byConsumer);
    const kept = byConsumer.get(service);
    if ((kept === undefined || kept.version !== version) && measurement.status === 'ok') {
      byConsumer.set(service, { version, m: measurement });
      return { service, version, measurement };
    }
    return kept?.version === version
      ? { service, version, measurement, baseline: kept.m }
      : { service, version, measurement };
  }

  private async safeMeasure(
    query: Parameters<MetricsProvider['measure']>[0],
  ): Promise<Measurement> {
    try {
      return await this.options.metrics.measure(query);
    } catch (err) {
      return { status: 'unavailable', reason: `metrics provider failed: ${describeError(err)}` };
    }
  }
}

function unavailableSample(service: string, reason: string): DependentSample {
  // The version is unknown; `unknown` keeps the event valid and reads as what it is.
  return { service, version: 'unknown', measurement: { status: 'unavailable', reason } };
}

function unmeasured(): Measurement {
  return { status: 'unavailable', reason: 'not measured: the consumer is mid-rollout here' };
}
