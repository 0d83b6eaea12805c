import {
  affectedBy,
  beginRollback,
  cascade,
  finishIfDone,
  line,
  promoteIfAllHold,
  promoteReady,
  startWhatMay,
  widenRollback,
  type ReleaseDraft,
} from './cascade.js';
import {
  budgetSpending,
  emptyErrorBudget,
  foldBudgetSample,
  formatErrors,
  type BudgetSample,
} from './error-budget.js';
import type { ReleasePlan } from './plan.js';
import {
  isReleaseTerminal,
  memberRolloutId,
  type ReleaseInput,
  type ReleaseMemberState,
  type ReleaseState,
  type ReleaseTransitionResult,
} from './state.js';

/**
 * The release coordinator: a pure reducer over several member rollouts, like `transition` is over
 * clusters. No clock, randomness or I/O; `now` is passed in.
 *
 * Members are ordinary rollouts whose plan holds before promotion: each runs its stages and waves
 * up to 100% of the new version and waits there (`held`), still holding its service lock and still
 * able to go back to 0%. A consumer starts once its providers hold (or, with
 * `release.consumerStartsAt`, passed that stage). When every member holds, the release promotes
 * them, providers before consumers. When a member fails (gate breach, command failure, abort, a
 * refused contract), the release goes back: members not started are cancelled, and the affected
 * members (`release.onFailure`) roll back consumers first, each provider only after every consumer
 * of it confirmed weight 0. Members the failure spares finish on their own and are promoted.
 *
 * Every accepted input returns a state whose `version` is one more, plus effects ending with
 * `release_card`. A refused input returns a reason; reports that arrive twice (a replayed outbox)
 * are refused rather than applied twice.
 */
export function releaseTransition(
  state: ReleaseState,
  input: ReleaseInput,
  now: number,
): ReleaseTransitionResult {
  if (isReleaseTerminal(state.status)) {
    return refuse('terminal', state, `${input.type} ignored: it has ended`);
  }
  const draft: ReleaseDraft = { state: structuredClone(state), effects: [], now };
  const refused = apply(draft, input);
  if (refused !== undefined) return refused;
  finishIfDone(draft);
  draft.state.version = state.version + 1;
  draft.state.updatedAt = now;
  draft.effects.push({ type: 'release_card' });
  return { ok: true, state: draft.state, effects: draft.effects };
}

/** A new release, not started: every member waiting, with its rollout id already decided. */
export function createRelease(
  id: string,
  plan: ReleasePlan,
  startedBy: string,
  now: number,
  reason?: string,
): ReleaseState {
  const members: Record<string, ReleaseMemberState> = {};
  for (const { service } of plan.members) {
    members[service] = {
      state: 'waiting',
      rolloutId: memberRolloutId(id, service),
      passedWeight: 0,
    };
  }
  return {
    id,
    version: 0,
    plan,
    status: 'pending',
    members,
    startedBy,
    ...(reason !== undefined && { reason }),
    ...(plan.policy.errorBudget !== undefined && {
      errorBudget: emptyErrorBudget(plan.policy.errorBudget),
    }),
    createdAt: now,
    updatedAt: now,
  };
}

type Refusal = Extract<ReleaseTransitionResult, { ok: false }>;

function refuse(code: Refusal['code'], state: ReleaseState, why: string): Refusal {
  return { ok: false, code, reason: `release ${state.id} (${state.status}): ${why}` };
}

function apply(draft: ReleaseDraft, input: ReleaseInput): Refusal | undefined {
  const { state } = draft;
  switch (input.type) {
    case 'start':
      if (state.status !== 'pending') return refuse('invalid_transition', state, 'already started');
      state.status = 'running';
      line(draft, `release started by ${input.actor}: ${plannedOrder(state.plan)}`);
      startWhatMay(draft);
      return undefined;
    case 'pause':
      return onPause(draft, input.actor);
    case 'resume':
      return onResume(draft, input.actor);
    case 'abort':
      return onAbort(draft, input);
    case 'budget_samples':
      return onBudgetSamples(draft, input.samples);
    default:
      return onMemberReport(draft, input);
  }
}

function onPause(draft: ReleaseDraft, actor: string): Refusal | undefined {
  const { state } = draft;
  if (state.status !== 'running') {
    return refuse('invalid_transition', state, 'only a running release can be paused');
  }
  state.status = 'paused';
  for (const [service, m] of Object.entries(state.members)) {
    if (m.state === 'running' || m.state === 'starting') {
      draft.effects.push({ type: 'pause_member', service, rolloutId: m.rolloutId });
    }
  }
  line(draft, `paused by ${actor}: no member starts and running members pause`);
  return undefined;
}

function onResume(draft: ReleaseDraft, actor: string): Refusal | undefined {
  const { state } = draft;
  if (state.status !== 'paused') {
    return refuse('invalid_transition', state, 'only a paused release can be resumed');
  }
  state.status = 'running';
  for (const [service, m] of Object.entries(state.members)) {
    if (m.state === 'running' || m.state === 'starting') {
      draft.effects.push({ type: 'resume_member', service, rolloutId: m.rolloutId });
    }
    // Held before widening through the pause: its checks are asked again (time has passed).
    if (m.state === 'running' && m.awaitingWidening) {
      draft.effects.push({ type: 'check_widening', service, rolloutId: m.rolloutId });
    }
  }
  line(draft, `resumed by ${actor}`);
  promoteIfAllHold(draft);
  startWhatMay(draft);
  return undefined;
}

function onAbort(
  draft: ReleaseDraft,
  input: Extract<ReleaseInput, { type: 'abort' }>,
): Refusal | undefined {
  const { state } = draft;
  if (state.status === 'rolling_back') {
    return refuse('invalid_transition', state, 'already going back; wait for the members');
  }
  const why = input.reason.trim() === '' ? 'no reason given' : input.reason.trim();
  // An abort sends every member back whatever `onFailure` says: it is a person's decision.
  beginRollback(draft, {
    cause: 'aborted',
    detail: `aborted by ${input.actor}: ${why}`,
    actor: input.actor,
    affected: state.plan.members.map((m) => m.service),
  });
  return undefined;
}

type MemberReport = Exclude<
  ReleaseInput,
  { type: 'start' | 'pause' | 'resume' | 'abort' | 'budget_samples' }
>;

/**
 * Folds members' health windows into the failure budget. Spent in full while members still run
 * (running or paused), the release goes back: every member, whatever `onFailure` says, since the
 * budget is the release's and no one member spent it alone. A batch with nothing new to count
 * (redelivered, not a member's) is refused, so a replay stores nothing.
 */
function onBudgetSamples(
  draft: ReleaseDraft,
  samples: readonly BudgetSample[],
): Refusal | undefined {
  const { state } = draft;
  if (state.errorBudget === undefined) {
    return refuse('invalid_transition', state, 'it has no error budget (release.errorBudget)');
  }
  if (state.status === 'rolling_back') {
    return refuse('invalid_transition', state, 'already going back: the budget no longer matters');
  }
  const members = state.plan.members.map((m) => m.service);
  let budget = state.errorBudget;
  let counted = 0;
  for (const sample of samples) {
    const folded = foldBudgetSample(budget, sample, members);
    if (folded.ignored === undefined) counted++;
    budget = folded.state;
  }
  if (counted === 0) return refuse('invalid_transition', state, 'no new window to count');
  state.errorBudget = budget;
  const spending = budgetSpending(budget);
  // While promoting, every member already held at 100% through its own gates: going back from
  // there is not what a budget is for (and its canaries serve all traffic, so nothing predicts).
  if (spending.exhausted && (state.status === 'running' || state.status === 'paused')) {
    const each = spending.members
      .filter((m) => m.excess > 0)
      .map((m) => `${m.service} ${formatErrors(m.excess)}`)
      .join(', ');
    beginRollback(draft, {
      cause: 'budget_exhausted',
      detail:
        `error budget spent: ${formatErrors(spending.spent)} extra errors of ${spending.budget} ` +
        `(release.errorBudget) across the canaries${each === '' ? '' : ` (${each})`}`,
      affected: members,
    });
  }
  return undefined;
}

function onMemberReport(draft: ReleaseDraft, input: MemberReport): Refusal | undefined {
  const { state } = draft;
  const m = Object.hasOwn(state.members, input.service) ? state.members[input.service] : undefined;
  if (m === undefined) {
    return refuse('unknown_member', state, `${input.service} is not a member`);
  }
  const stale = (): Refusal =>
    refuse('invalid_transition', state, `${input.type} of ${input.service} while it is ${m.state}`);
  switch (input.type) {
    case 'contract_verdict':
      if (m.state === 'running') {
        // A second answer (a replayed check) after the member widened changes nothing.
        return m.awaitingWidening ? onWideningVerdict(draft, input, m) : stale();
      }
      if (m.state !== 'waiting' && m.state !== 'starting') return stale();
      if (input.ok) {
        line(draft, `${input.service}: contract check passed (${input.detail})`);
        return undefined;
      }
      m.state = 'cancelled';
      m.endedAt = draft.now;
      m.outcome = input.detail;
      draft.effects.push({
        type: 'release_member_lock',
        service: input.service,
        rolloutId: m.rolloutId,
      });
      fail(draft, input.service, 'contract_refused', `${input.service}: ${input.detail}`);
      return undefined;
    case 'member_started':
      if (m.state !== 'starting') return stale();
      m.state = 'running';
      return undefined;
    case 'member_progress':
      if (m.state !== 'running' && m.state !== 'starting') return stale();
      if (input.passedWeight <= m.passedWeight) return stale();
      m.state = 'running';
      m.passedWeight = input.passedWeight;
      startWhatMay(draft);
      return undefined;
    case 'member_held':
      if (m.state !== 'running' && m.state !== 'starting') return stale();
      m.state = 'held';
      m.passedWeight = 100;
      line(draft, `${input.service} holds at 100% of its new version`);
      promoteIfAllHold(draft);
      startWhatMay(draft);
      cascade(draft);
      promoteReady(draft);
      return undefined;
    case 'member_awaiting_widening':
      if (m.state !== 'running' && m.state !== 'starting') return stale();
      m.state = 'running';
      m.awaitingWidening = true;
      line(
        draft,
        `${input.service} passed its first stage: asking its contract checks before it widens`,
      );
      draft.effects.push({
        type: 'check_widening',
        service: input.service,
        rolloutId: m.rolloutId,
      });
      return undefined;
    case 'member_ended':
      return onMemberEnded(draft, input, m);
  }
}

/**
 * The answer to a running member's `before_widening` checks. Yes: it widens, unless the release
 * is paused, where it keeps holding at its first stage and the resume asks again (a pause means no
 * traffic moves). No: the member fails with the broker's reason, and the release goes back from
 * there (its rollout, holding at its first stage, is rolled back like any affected member).
 */
function onWideningVerdict(
  draft: ReleaseDraft,
  input: Extract<ReleaseInput, { type: 'contract_verdict' }>,
  m: ReleaseMemberState,
): Refusal | undefined {
  if (input.ok) {
    if (draft.state.status === 'paused') {
      line(
        draft,
        `${input.service}: contract check before widening passed (${input.detail}); ` +
          'it widens once the release resumes, after asking again',
      );
      return undefined;
    }
    delete m.awaitingWidening;
    line(draft, `${input.service}: contract check before widening passed (${input.detail})`);
    draft.effects.push({ type: 'widen_member', service: input.service, rolloutId: m.rolloutId });
    return undefined;
  }
  delete m.awaitingWidening;
  fail(draft, input.service, 'contract_refused', `${input.service}: ${input.detail}`);
  return undefined;
}

function onMemberEnded(
  draft: ReleaseDraft,
  input: Extract<ReleaseInput, { type: 'member_ended' }>,
  m: ReleaseMemberState,
): Refusal | undefined {
  const { state } = draft;
  if (['waiting', 'succeeded', 'rolled_back', 'cancelled'].includes(m.state)) {
    return refuse('invalid_transition', state, `${input.service} already ${m.state}`);
  }
  m.endedAt = draft.now;
  if (input.status === 'succeeded') {
    m.state = 'succeeded';
    line(draft, `${input.service} promoted`);
    promoteReady(draft);
    cascade(draft);
    return undefined;
  }
  const wasAsked = m.state === 'rolling_back';
  m.state = 'rolled_back';
  if (input.outcome !== undefined) m.outcome = input.outcome;
  line(
    draft,
    `${input.service} ${input.status.replace('_', ' ')} at weight 0` +
      (input.outcome !== undefined ? `: ${input.outcome}` : ''),
  );
  if (!wasAsked) {
    fail(
      draft,
      input.service,
      'member_failed',
      `${input.service} ${input.status.replace('_', ' ')}` +
        (input.outcome !== undefined ? `: ${input.outcome}` : ''),
    );
    return undefined;
  }
  cascade(draft);
  return undefined;
}

/** A member failed on its own: the release goes back, or goes back further if it already is. */
function fail(
  draft: ReleaseDraft,
  service: string,
  cause: 'member_failed' | 'contract_refused',
  detail: string,
): void {
  const { state } = draft;
  if (state.status === 'rolling_back') {
    widenRollback(draft, service);
    cascade(draft);
    return;
  }
  beginRollback(draft, { service, cause, detail, affected: affectedBy(state.plan, service) });
}

/** `payments, search → checkout`: the groups of the plan, first to last. */
function plannedOrder(plan: ReleasePlan): string {
  return plan.groups.map((g) => g.join(', ')).join(' → ');
}
