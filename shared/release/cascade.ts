import type { ReleasePlan } from './plan.js';
import { nextToStart, type MemberStatus } from './schedule.js';
import {
  MEMBER_ENDED,
  isReleaseTerminal,
  type ReleaseEffect,
  type ReleaseMemberState,
  type ReleaseState,
} from './state.js';

/**
 * The moves several release inputs share: starting what may start, promoting providers before
 * their consumers, rolling back consumers before their providers, and ending.
 */

export interface ReleaseDraft {
  readonly state: ReleaseState;
  readonly effects: ReleaseEffect[];
  readonly now: number;
}

export function member(state: ReleaseState, service: string): ReleaseMemberState {
  const found = Object.hasOwn(state.members, service) ? state.members[service] : undefined;
  if (found === undefined) throw new Error(`release ${state.id} has no member ${service}`);
  return found;
}

export function line(draft: ReleaseDraft, text: string): void {
  draft.effects.push({ type: 'release_thread_line', text });
}

/** The members `service` waits for in the plan (its providers in the release). */
function providersIn(plan: ReleasePlan, service: string): string[] {
  return plan.members.find((m) => m.service === service)?.waitsFor ?? [];
}

/** The members that wait for `service` (its consumers in the release). */
function consumersIn(plan: ReleasePlan, service: string): string[] {
  return plan.members.filter((m) => m.waitsFor.includes(service)).map((m) => m.service);
}

/**
 * The members a failure of `failed` sends back. `rollback-all`: every member. `rollback-dependents`:
 * `failed` and what it depends on (transitively), then everything that depends on any of those
 * (transitively), because a consumer must never run against a provider that went back. Plan order.
 */
export function affectedBy(plan: ReleasePlan, failed: string | undefined): string[] {
  const all = plan.members.map((m) => m.service);
  if (failed === undefined || plan.policy.onFailure === 'rollback-all') return all;
  const set = new Set<string>();
  const up = (s: string): void => {
    if (set.has(s)) return;
    set.add(s);
    providersIn(plan, s).forEach(up);
  };
  up(failed);
  const seen = new Set<string>();
  const down = (s: string): void => {
    if (seen.has(s)) return;
    seen.add(s);
    set.add(s);
    consumersIn(plan, s).forEach(down);
  };
  [...set].forEach(down);
  return all.filter((s) => set.has(s));
}

/** A member as `nextToStart` sees it. */
function scheduleStatus(m: ReleaseMemberState): MemberStatus {
  switch (m.state) {
    case 'waiting':
      return { state: 'waiting' };
    case 'starting':
    case 'running':
      return { state: 'running', passedWeight: m.passedWeight };
    // "Finished" for a consumer's start: the provider holds at 100% of the new version.
    case 'held':
    case 'promoting':
    case 'succeeded':
      return { state: 'succeeded' };
    case 'rolling_back':
    case 'rolled_back':
      return { state: 'failed' };
    case 'cancelled':
      return { state: 'cancelled' };
  }
}

/** Starts the waiting members the plan lets start now (only while the release runs). */
export function startWhatMay(draft: ReleaseDraft): void {
  const { state } = draft;
  if (state.status !== 'running') return;
  const statuses = Object.fromEntries(
    Object.entries(state.members).map(([s, m]) => [s, scheduleStatus(m)]),
  );
  for (const service of nextToStart(state.plan, statuses, state.plan.policy.maxParallel)) {
    const m = member(state, service);
    const version = state.plan.members.find((p) => p.service === service)!.version;
    m.state = 'starting';
    m.startedAt = draft.now;
    draft.effects.push({ type: 'start_member', service, rolloutId: m.rolloutId, version });
    const waited = providersIn(state.plan, service);
    line(
      draft,
      `starting ${service} ${version} (${m.rolloutId})` +
        (waited.length > 0 ? `: ${waited.join(', ')} reached the hold` : ''),
    );
  }
}

/** While running: once every member holds, the release promotes. */
export function promoteIfAllHold(draft: ReleaseDraft): void {
  const { state } = draft;
  if (state.status !== 'running') return;
  if (!Object.values(state.members).every((m) => m.state === 'held')) return;
  state.status = 'promoting';
  line(draft, 'every member holds at 100% of its new version: promoting, providers first');
  promoteReady(draft);
}

/**
 * Promotes each held member whose providers in the release have all succeeded. Providers first:
 * a consumer becomes final only once what it calls is final, so a failure during the promotion
 * never leaves a promoted consumer on a provider that went back.
 */
export function promoteReady(draft: ReleaseDraft): void {
  const { state } = draft;
  if (state.status !== 'promoting' && state.status !== 'rolling_back') return;
  const affected = new Set(state.failure?.affected ?? []);
  for (const { service, waitsFor } of state.plan.members) {
    const m = member(state, service);
    if (m.state !== 'held' || affected.has(service)) continue;
    if (!waitsFor.every((p) => member(state, p).state === 'succeeded')) continue;
    m.state = 'promoting';
    draft.effects.push({ type: 'promote_member', service, rolloutId: m.rolloutId });
  }
}

/**
 * The rollback order, one step: members not started are cancelled (nothing starts after a
 * failure), and each affected member still at the new version is told to roll back once every
 * consumer of it in the release has ended (confirmed weight 0, or never started). Consumers
 * before providers, and a provider never goes back under a consumer still on the new version.
 */
export function cascade(draft: ReleaseDraft): void {
  const { state } = draft;
  if (state.status !== 'rolling_back' || state.failure === undefined) return;
  const affected = new Set(state.failure.affected);
  for (const { service } of state.plan.members) {
    const m = member(state, service);
    if (m.state !== 'waiting') continue;
    m.state = 'cancelled';
    m.endedAt = draft.now;
    draft.effects.push({ type: 'release_member_lock', service, rolloutId: m.rolloutId });
    line(draft, `${service} cancelled: it had not started`);
  }
  // Consumers first: reverse plan order (the plan is in a topological order).
  for (const { service } of [...state.plan.members].reverse()) {
    const m = member(state, service);
    if (!affected.has(service)) continue;
    if (!['starting', 'running', 'held', 'promoting'].includes(m.state)) continue;
    const consumers = consumersIn(state.plan, service);
    if (!consumers.every((c) => MEMBER_ENDED.includes(member(state, c).state))) continue;
    m.state = 'rolling_back';
    draft.effects.push({
      type: 'rollback_member',
      service,
      rolloutId: m.rolloutId,
      reason: `release ${state.id} rolls back: ${state.failure.detail}`,
    });
    line(
      draft,
      `rolling back ${service} (${m.rolloutId})` +
        (consumers.length > 0 ? ` now that ${consumers.join(', ')} ended` : ''),
    );
  }
}

/** Starts the rollback: records the failure, then takes the first step of `cascade`. */
export function beginRollback(
  draft: ReleaseDraft,
  failure: NonNullable<ReleaseState['failure']>,
): void {
  const { state } = draft;
  const wasPaused = state.status === 'paused';
  state.status = 'rolling_back';
  state.failure = failure;
  // Members the failure spares must reach their hold to be promoted: a pause would keep them,
  // and the release, waiting forever (nobody resumes a release that is going back).
  if (wasPaused) {
    for (const [service, m] of Object.entries(state.members)) {
      if (failure.affected.includes(service)) continue;
      if (m.state === 'running' || m.state === 'starting') {
        draft.effects.push({ type: 'resume_member', service, rolloutId: m.rolloutId });
      }
    }
  }
  line(
    draft,
    `release going back (${failure.detail}); members rolled back, consumers first: ${failure.affected.join(', ')}`,
  );
  cascade(draft);
  promoteReady(draft);
}

/**
 * A member that fails while the release is already going back (under `rollback-dependents`, one
 * the first failure spared): what it touches goes back too.
 */
export function widenRollback(draft: ReleaseDraft, service: string): void {
  const { failure, plan } = draft.state;
  if (failure === undefined || failure.affected.includes(service)) return;
  const more = new Set([...failure.affected, ...affectedBy(plan, service)]);
  failure.affected = plan.members.map((m) => m.service).filter((s) => more.has(s));
}

/** Ends the release once no member can move traffic any more; pages on a failure. */
export function finishIfDone(draft: ReleaseDraft): void {
  const { state } = draft;
  if (isReleaseTerminal(state.status)) return;
  if (!Object.values(state.members).every((m) => MEMBER_ENDED.includes(m.state))) return;
  state.status =
    state.failure === undefined
      ? 'succeeded'
      : state.failure.cause === 'aborted'
        ? 'aborted'
        : 'rolled_back';
  state.endedAt = draft.now;
  const finals = state.plan.members
    .map(({ service }) => `${service} ${member(state, service).state.replace('_', ' ')}`)
    .join(', ');
  line(draft, `release ${state.status.replace('_', ' ')}: ${finals}`);
  if (state.failure !== undefined) {
    draft.effects.push({
      type: 'page',
      services: state.failure.affected,
      message: `release ${state.id} ${state.status.replace('_', ' ')} (${state.failure.detail}): ${finals}`,
    });
  }
}
