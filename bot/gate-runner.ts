import type { Clock } from '../shared/clock.js';
import { applicableGate, judgedWithoutLiveTraffic } from '../shared/gate/applicable.js';
import { evaluateGate } from '../shared/gate/evaluate.js';
import { requireSequentialEvidence } from '../shared/gate/sequential-evidence.js';
import { isRolloutError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import type { GateJob } from '../shared/ports/gate-scheduler.js';
import {
  sampledAt,
  type HealthSampleStore,
  type StoredSample,
} from '../shared/ports/health-samples.js';
import type { RolloutService } from './rollout-service.js';
import { startedClusters, waveClusters } from '../shared/rollout/draft.js';
import { isGateWatched, type RolloutState } from '../shared/rollout/state.js';

export interface GateRunnerDeps {
  service: RolloutService;
  samples: HealthSampleStore;
  /** The clock samples' `receivedAt` was read from (the events consumer's). */
  clock: Clock;
  logger: Logger;
  /**
   * How far the clocks of agents and bot replicas may disagree: a sample's window end may be this
   * much earlier than the bake's start, or than the freshness bound, and still count. Default 1 s.
   */
  maxClockSkewMs?: number;
}

/**
 * Evaluates one gate tick: reads each target cluster's latest sample for the stage, judges them,
 * and feeds the verdict to the state machine. A sample counts only if its window ended since the
 * bake began and it is fresh: its window ended no longer ago than one gate interval plus the
 * window itself (both judged by the sample's own time, not when it was received, so a redelivered
 * or backlogged sample is as old as it is; `maxClockSkewMs` absorbs clocks that disagree). An
 * agent samples about once per window, so a live one always has a sample that recent (the gate
 * interval is the slack for delivery and for ticks that fall between samples); a cluster whose
 * agent stopped sampling counts as having sent nothing, which makes the verdict inconclusive,
 * instead of its last healthy sample passing every tick after it died.
 * Idempotent: a job for a tick the rollout has moved past is a no-op, so a re-run after a crash
 * or a duplicate delivery changes nothing.
 */
export function createGateRunner(deps: GateRunnerDeps): (job: GateJob) => Promise<void> {
  return async (job) => {
    const state = await deps.service.get(job.rolloutId);
    if (
      state?.status === 'rolling_back' &&
      state.stageIndex === job.stageIndex &&
      state.gate.tick === job.tick
    ) {
      // While rolling back, the timer is that of failed rollbacks (see rollback-retries.ts).
      await deps.service
        .apply(state.id, { type: 'rollback_retry', tick: job.tick }, 'system:rollback-retry')
        .catch((err: unknown) => {
          if (!isRolloutError(err) || err.code === 'version_conflict') throw err;
        });
      return;
    }
    if (
      !state ||
      !isGateWatched(state.status) ||
      state.stageIndex !== job.stageIndex ||
      state.gate.tick !== job.tick
    ) {
      return;
    }
    const stage = state.plan.stages[state.stageIndex]!;
    const since = state.bakeStartedAt ?? 0;
    const now = deps.clock.now();
    const skew = deps.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
    // Earlier waves stay at their last stage (100%) and stay watched: their latest samples of that
    // stage are judged by its gate beside the current wave's, so a late regression is still caught.
    const started = startedClusters(state);
    const earlier = earlierWaveClusters(state, started);
    const lastIndex = state.plan.stages.length - 1;
    const lastStage = state.plan.stages[lastIndex]!;
    const stored = [
      ...(await deps.samples.latest(state.id, state.stageIndex)).filter(
        (s) => !earlier.includes(s.cluster),
      ),
      ...(earlier.length === 0 ? [] : await deps.samples.latest(state.id, lastIndex)).filter((s) =>
        earlier.includes(s.cluster),
      ),
    ];
    const samples = stored
      .filter((s) => sampledAt(s) >= since - skew && isFresh(s, stage.gate.intervalMs, now, skew))
      .map((s) => ({
        cluster: s.cluster,
        canary: s.sample.canary,
        stable: s.sample.stable,
        webhooks: s.sample.webhooks,
        dependents: s.sample.dependents,
      }));
    const atLastStage = {
      gate: applicableGate(lastStage),
      options: { webhooksSuffice: judgedWithoutLiveTraffic(lastStage) },
    };
    const verdict = requireSequentialEvidence(
      evaluateGate(applicableGate(stage), samples, state.gate.consecutiveFailures, started, {
        webhooksSuffice: judgedWithoutLiveTraffic(stage),
        ...(state.plan.dependents !== undefined && { dependents: state.plan.dependents }),
        ...(earlier.length > 0 && { otherGates: new Map(earlier.map((c) => [c, atLastStage])) }),
      }),
      stage,
      started,
      state.judge?.countedUntil ?? {},
      since - skew,
    );
    try {
      await deps.service.apply(
        state.id,
        { type: 'gate_result', stageIndex: job.stageIndex, tick: job.tick, verdict },
        'system:gate',
      );
    } catch (err) {
      // The rollout moved on between our read and our write (paused, aborted): nothing to do.
      if (isRolloutError(err) && err.code !== 'version_conflict') {
        deps.logger.info(
          { rolloutId: state.id, job, reason: err.message },
          'gate result not applied',
        );
        return;
      }
      throw err;
    }
  };
}

const DEFAULT_MAX_CLOCK_SKEW_MS = 1_000;

/** The clusters of the waves before the current one (none for a rollout of one wave). */
function earlierWaveClusters(state: RolloutState, started: readonly string[]): string[] {
  const current = new Set(waveClusters(state));
  return started.filter((c) => !current.has(c));
}

/** Its window ended within the last gate interval plus the window (see `createGateRunner`). */
export function isFresh(
  sample: StoredSample,
  gateIntervalMs: number,
  now: number,
  maxClockSkewMs = 0,
): boolean {
  return sampledAt(sample) >= now - (gateIntervalMs + sample.sample.windowMs + maxClockSkewMs);
}
