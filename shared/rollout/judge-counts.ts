import type { CountedInterval } from '../contracts/counted-interval.js';
import { emptyEvidence, foldInterval, type Evidence } from '../judge/evidence.js';
import { judge, type Judgement } from '../judge/judgement.js';
import {
  clusterOf,
  currentStage,
  describeStatus,
  notify,
  reject,
  rolloutLabel,
  stageLabel,
  type Draft,
  type Outcome,
} from './draft.js';
import { stableVersionsLabel, type SequentialCheck } from './plan.js';
import { afterGatePassed, beginRollback } from './stage-flow.js';
import type { RolloutInput, RolloutStatus } from './state.js';

type HealthCounts = Extract<RolloutInput, { type: 'health_counts' }>;

/** Statuses in which counts are folded; a decision is taken only in the first three. */
const FOLDING: readonly RolloutStatus[] = ['progressing', 'baking', 'awaiting_approval', 'paused'];
const DECIDING: readonly RolloutStatus[] = ['progressing', 'baking', 'awaiting_approval'];
/** How far in the future an interval's end may be (clocks of agents and bot disagree a little). */
const FUTURE_SKEW_MS = 60_000;

/**
 * Which evidence a check reads: `errors`, or `slow>300ms`, with its tolerance when it is not
 * 1.2 (`errors@2`): two checks that count the same events against different tolerances test
 * different nulls and keep evidence of their own.
 */
export function evidenceKey(check: SequentialCheck): string {
  const events = check.latencyBoundMs === undefined ? 'errors' : `slow>${check.latencyBoundMs}ms`;
  return check.maxRatio === DEFAULT_KEY_RATIO ? events : `${events}@${check.maxRatio}`;
}

/** Evidence stored before keys carried the tolerance was for this one (the policy default). */
const DEFAULT_KEY_RATIO = 1.2;

/** The events of one version a check counts; undefined when the interval lacks them. */
function eventsOf(check: SequentialCheck, counts: CountedInterval): number | undefined {
  if (check.latencyBoundMs === undefined) return counts.errors;
  return counts.slow?.find((s) => s.boundMs === check.latencyBoundMs)?.count;
}

/**
 * Folds one cluster's interval counts into the rollout's evidence (see `shared/judge`) and acts
 * on it at once:
 *
 * - a check's regression evidence reaching 1/α rolls back everywhere (in progressing, baking or
 *   awaiting approval; counts are still folded while paused, so the card stays current);
 * - with `promoteEarly` on every sequential check of the stage, the stage ends before its bake
 *   once each has its promotion evidence, no earlier than the largest `minBakeMs`, and only once
 *   the stage's gate itself last passed (threshold and webhook checks, every cluster heard from).
 *
 * Refused: counts outside those statuses, from a cluster that is not a target, at a stage without
 * sequential checks, or of an interval that begins before the end of the last one folded for that
 * cluster (overlapping windows would count events twice and void the guarantee).
 */
export function onHealthCounts(draft: Draft, input: HealthCounts): Outcome {
  const { state } = draft;
  const what = `counts from ${input.cluster}`;
  if (!FOLDING.includes(state.status)) {
    return reject(
      'stale_event',
      `${what} ignored: ${rolloutLabel(state)} is ${describeStatus(state)}`,
    );
  }
  if (clusterOf(state, input.cluster) === undefined) {
    return reject(
      'unknown_cluster',
      `${what} ignored: ${input.cluster} is not a target of ${rolloutLabel(state)}`,
    );
  }
  const checks = currentStage(state).gate.sequential ?? [];
  if (checks.length === 0) {
    return reject('stale_event', `${what} ignored: ${stageLabel(state)} has no sequential checks`);
  }
  const judged = state.judge ?? { checks: {}, countedUntil: {} };
  const from = Math.min(input.canary.fromMs, input.stable.fromMs);
  const to = Math.max(input.canary.toMs, input.stable.toMs);
  const until = judged.countedUntil[input.cluster];
  if (until !== undefined && from < until) {
    return reject(
      'stale_event',
      `${what} ignored: the interval from ${from} overlaps one already counted (to ${until})`,
    );
  }
  // An interval ending in the future (an agent clock far ahead, a forged event) would make every
  // later interval of the cluster look like an overlap: refused, with room for clock skew.
  if (to > draft.now + FUTURE_SKEW_MS) {
    return reject(
      'stale_event',
      `${what} ignored: the interval ends at ${to}, later than now (${draft.now}); check that cluster's clock`,
    );
  }
  judged.countedUntil[input.cluster] = Math.max(until ?? 0, to);
  const verdicts: { check: SequentialCheck; evidence: Evidence; verdict: Judgement }[] = [];
  for (const check of checks) {
    const key = evidenceKey(check);
    let evidence = judged.checks[key];
    const wantsPromotion = check.promoteEarly !== undefined;
    // A different tolerance is a different null: its evidence starts over (a later stage of the
    // same policy never differs). A promotion test asked for only now starts now, beside the
    // regression evidence gathered so far, which stays.
    if (evidence === undefined || evidence.maxRatio !== check.maxRatio) {
      evidence = emptyEvidence(check.maxRatio, wantsPromotion);
    } else if (wantsPromotion && evidence.promotion.length === 0) {
      evidence = { ...evidence, promotion: emptyEvidence(check.maxRatio).promotion };
    }
    const canaryEvents = eventsOf(check, input.canary);
    const stableEvents = eventsOf(check, input.stable);
    if (canaryEvents !== undefined && stableEvents !== undefined) {
      evidence = foldInterval(evidence, {
        canaryRequests: input.canary.requests,
        canaryEvents: Math.min(canaryEvents, input.canary.requests),
        stableRequests: input.stable.requests,
        stableEvents: Math.min(stableEvents, input.stable.requests),
      });
    }
    judged.checks[key] = evidence;
    const levels = wantsPromotion
      ? { alpha: check.alpha, promoteAlpha: check.promoteEarly!.alpha }
      : { alpha: check.alpha };
    verdicts.push({ check, evidence, verdict: judge(evidence, levels) });
  }
  state.judge = judged;
  if (!DECIDING.includes(state.status)) return undefined;

  const breached = verdicts.find((v) => v.verdict.rollback);
  if (breached) {
    const reason = `sequential check breached at ${stageLabel(state)}: ${breachSummary(breached)}`;
    beginRollback(draft, 'gate_breached', reason);
    notify(
      draft,
      'gate_breached',
      `${rolloutLabel(state)}: ${reason}; rolling back to ${stableVersionsLabel(state.plan, true)}`,
    );
    return undefined;
  }
  if (state.status === 'baking' && verdicts.every((v) => v.verdict.promote)) {
    const minBakeMs = Math.max(...checks.map((c) => c.promoteEarly!.minBakeMs));
    const baked = draft.now - (state.bakeStartedAt ?? draft.now);
    // Ending early needs the stage's own gate to have passed too: its threshold and webhook
    // checks, and every cluster heard from (the gate is reset for each stage).
    if (baked >= minBakeMs && state.gate.lastVerdict?.outcome === 'pass') {
      afterGatePassed(draft);
    }
  }
  return undefined;
}

/** How a check is named to people: `errors`, `slow requests (> 300 ms)`. */
export function label(check: SequentialCheck): string {
  return check.latencyBoundMs === undefined
    ? 'errors'
    : `slow requests (> ${check.latencyBoundMs} ms)`;
}

function breachSummary(v: {
  check: SequentialCheck;
  evidence: Evidence;
  verdict: Judgement;
}): string {
  const { check, evidence } = v;
  const e = Math.exp(v.verdict.logRegression);
  const shown = e >= 1e6 ? e.toExponential(1) : e.toFixed(0);
  const expected = evidence.expectedCanaryEvents;
  return (
    `${label(check)} ${evidence.canaryEvents} in ${evidence.canaryRequests} canary requests vs ` +
    `${expected.toFixed(1)} expected from stable (${evidence.stableEvents} in ${evidence.stableRequests}); ` +
    `evidence ${shown} ≥ 1/α = ${Math.round(1 / check.alpha)} (α ${check.alpha}, tolerance ${check.maxRatio}× stable)`
  );
}
