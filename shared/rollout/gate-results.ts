import { stableVersionsLabel } from './plan.js';
import { formatChecks } from '../gate/format.js';
import type { GateVerdict } from '../gate/verdict.js';
import {
  describeStatus,
  notify,
  reject,
  rolloutLabel,
  stageLabel,
  type Draft,
  type Outcome,
} from './draft.js';
import { afterGatePassed, bakeIsOver, beginRollback, scheduleNextTick } from './stage-flow.js';
import { isGateWatched, type RolloutInput } from './state.js';

type GateResult = Extract<RolloutInput, { type: 'gate_result' }>;
type GateLost = Extract<RolloutInput, { type: 'gate_lost' }>;

/**
 * The awaited evaluation was lost: schedule the next tick, so the bake goes on. Only for the tick
 * the machine still waits for; once any result (or another `gate_lost`) moved it on, it is stale.
 */
export function onGateLost(draft: Draft, input: GateLost): Outcome {
  const { state } = draft;
  if (
    !isGateWatched(state.status) ||
    input.stageIndex !== state.stageIndex ||
    input.tick !== state.gate.tick
  ) {
    return reject(
      'stale_event',
      `lost gate tick ${input.tick} of ${stageLabel(state, input.stageIndex)} ignored: ${rolloutLabel(state)} is ${describeStatus(state)} at tick ${state.gate.tick}`,
    );
  }
  scheduleNextTick(draft);
  return undefined;
}

/** The breached checks with measured value, threshold and cluster; the summary if none are listed. */
function breachedChecks(verdict: GateVerdict): string {
  const failed = verdict.checks.filter((c) => !c.passed);
  return failed.length > 0 ? formatChecks(failed) : verdict.summary;
}

/**
 * One evaluation of the current stage's gate. Only the result for the tick the machine is waiting
 * for counts; the scheduler may deliver a result twice or late, and those are stale.
 *
 * - `fail`: roll back everywhere and alert.
 * - `failing`: keep baking and evaluate again (the bake cannot end while failing).
 * - `pass`: once the bake time is over, advance (or ask for approval); before that, keep baking.
 * - `inconclusive`: keep baking; once the bake is over this holds the rollout, and the channel is
 *   told once per stage that a person may need to look.
 *
 * A release member holding at 100% (`held`) is judged the same way, except that nothing but a
 * `fail` moves it: it has passed every stage and waits for its release, so a pass or an
 * inconclusive tick only asks for the next one (its release decides when it ends; an agent that
 * stopped sampling is the heartbeat sweep's alert, not the gate's).
 */
export function onGateResult(draft: Draft, input: GateResult): Outcome {
  const { state } = draft;
  const result = `gate result for ${stageLabel(state, input.stageIndex)} tick ${input.tick}`;
  if (!isGateWatched(state.status)) {
    return reject(
      'stale_event',
      `${result} ignored: ${rolloutLabel(state)} is ${describeStatus(state)}`,
    );
  }
  if (input.stageIndex !== state.stageIndex || input.tick !== state.gate.tick) {
    return reject(
      'stale_event',
      `${result} is stale: waiting for ${stageLabel(state)} tick ${state.gate.tick}`,
    );
  }
  const { verdict } = input;
  state.gate.lastVerdict = verdict;
  state.gate.consecutiveFailures = verdict.consecutiveFailures;
  if (verdict.outcome === 'fail') {
    const reason = `gate breached at ${stageLabel(state)}: ${breachedChecks(verdict)}`;
    beginRollback(draft, 'gate_breached', reason);
    notify(
      draft,
      'gate_breached',
      `${rolloutLabel(state)}: ${reason} (failed ${verdict.consecutiveFailures} evaluation(s) in a row); ` +
        `rolling back to ${stableVersionsLabel(state.plan, true)}`,
    );
    return undefined;
  }
  if (verdict.outcome === 'failing' || state.status === 'held') {
    scheduleNextTick(draft);
    return undefined;
  }
  switch (verdict.outcome) {
    case 'pass':
      if (bakeIsOver(draft)) afterGatePassed(draft);
      else scheduleNextTick(draft);
      return undefined;
    case 'inconclusive':
      if (bakeIsOver(draft) && !state.gate.heldAlerted) {
        state.gate.heldAlerted = true;
        notify(
          draft,
          'gate_inconclusive',
          `${rolloutLabel(state)} has baked ${stageLabel(state)} but its gate is inconclusive (${verdict.summary}); ` +
            'holding until it passes. Pause or Abort to intervene',
        );
      }
      scheduleNextTick(draft);
      return undefined;
    default: {
      const never: never = verdict.outcome;
      throw new Error(`unknown gate outcome ${String(never)}`);
    }
  }
}
