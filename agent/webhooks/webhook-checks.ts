import type { WebhookResult } from '../../shared/contracts/events.js';
import type { WebhookCheck } from '../../shared/rollout/plan.js';
import type { TrackedRollout } from '../rollout-table.js';
import { runWebhook, type WebhookRunnerOptions } from './webhook-runner.js';

export interface WebhookChecksOptions {
  /** This agent's cluster: webhooks are told where they judge. */
  cluster: string;
  /** The policy's webhook checks per service, for rollouts whose stages are unknown (a restart). */
  webhooksByService?: Readonly<Record<string, readonly WebhookCheck[]>>;
  /** How each webhook is called. Default the global fetch. */
  runner?: WebhookRunnerOptions;
}

interface Latest {
  stageIndex: number;
  results: WebhookResult[];
}

/**
 * The webhook checks of each active rollout's current stage, run one round at a time per rollout
 * and kept until the next round completes. A sample waits for a round in flight only up to a bound,
 * then goes out with the latest completed results of its stage: a slow or hanging webhook (its
 * timeout × tries can be minutes) delays its rollout's samples by at most that bound, never its
 * metrics or other rollouts', and its verdict arrives with a later sample.
 */
export class WebhookChecks {
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly latest = new Map<string, Latest>();

  constructor(private readonly options: WebhookChecksOptions) {}

  /**
   * The latest results for `rollout` at `stageIndex` (empty when its gate has no webhooks or none
   * has completed at this stage), after starting a round if none is running and waiting for it at
   * most `waitMs`.
   */
  async resultsFor(
    rollout: TrackedRollout,
    stageIndex: number,
    waitMs: number,
  ): Promise<WebhookResult[]> {
    const checks = this.checksOf(rollout, stageIndex);
    if (checks.length === 0) return [];
    const key = rollout.rolloutId;
    let round = this.inFlight.get(key);
    if (round === undefined) {
      round = this.runRound(rollout, stageIndex, checks).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, round);
    }
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, waitMs);
      timer.unref();
    });
    await Promise.race([round, bound]);
    clearTimeout(timer);
    const last = this.latest.get(key);
    return last?.stageIndex === stageIndex ? last.results : [];
  }

  /** Drops what is kept for rollouts no longer active. */
  keepOnly(activeRolloutIds: ReadonlySet<string>): void {
    for (const key of this.latest.keys()) {
      if (!activeRolloutIds.has(key)) this.latest.delete(key);
    }
  }

  /** The stage gate's checks (from `start`); the policy's for a rollout recovered after a restart. */
  private checksOf(rollout: TrackedRollout, stageIndex: number): readonly WebhookCheck[] {
    if (rollout.stages === undefined)
      return this.options.webhooksByService?.[rollout.service] ?? [];
    return rollout.stages[stageIndex]?.gate.webhooks ?? [];
  }

  private async runRound(
    rollout: TrackedRollout,
    stageIndex: number,
    checks: readonly WebhookCheck[],
  ): Promise<void> {
    const target = rollout.target;
    if (target === undefined) return;
    const stage = rollout.stages?.[stageIndex];
    const call = {
      rolloutId: rollout.rolloutId,
      service: target.service,
      version: target.canaryVersion,
      stableVersion: target.stableVersion,
      cluster: this.options.cluster,
      stageIndex,
      // Unknown for a recovered rollout until a command says; the route's weight is the truth.
      ...(stage !== undefined && { weight: stage.weight }),
      strategy: target.strategy,
    };
    // runWebhook never rejects.
    const results = await Promise.all(
      checks.map((check) => runWebhook(check, call, this.options.runner)),
    );
    this.latest.set(rollout.rolloutId, { stageIndex, results });
  }
}
