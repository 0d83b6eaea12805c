import { randomBytes, randomUUID } from 'node:crypto';
import type { Clock } from '../shared/clock.js';
import { providersOf } from '../shared/config/dependencies.js';
import type { Policy } from '../shared/config/policy.js';
import { isRolloutError, RolloutError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import type { ContractChecks } from '../shared/ports/contract-checks.js';
import { ReleaseNotFoundError, type ReleaseStore } from '../shared/ports/release-store.js';
import type { ServiceLocks } from '../shared/ports/service-locks.js';
import {
  askContractChecks,
  contractChecksFor,
  decideContracts,
} from '../shared/release/contract-gate.js';
import type { BudgetSample } from '../shared/release/error-budget.js';
import { planRelease, type ReleaseRequestMember } from '../shared/release/plan.js';
import {
  isReleaseTerminal,
  memberRolloutId,
  type ReleaseEffect,
  type ReleaseInput,
  type ReleaseState,
} from '../shared/release/state.js';
import { createRelease, releaseTransition } from '../shared/release/transition.js';
import type { MemberReport } from '../shared/rollout/state.js';
import type { Actor, RolloutService } from './rollout-service.js';

/** A release that cannot start now; `problems` names every reason and what would be right. */
export class ReleaseRefusedError extends RolloutError {
  constructor(readonly problems: string[]) {
    super('release_refused', `the release was not started: ${problems.join('; ')}`);
  }
}

/** The coordinator refused an input (a release not running, a report it already has). */
export class ReleaseTransitionRefusedError extends RolloutError {
  constructor(code: string, reason: string) {
    super(code, reason);
  }
}

export interface ReleaseServiceDeps {
  store: ReleaseStore;
  rollouts: RolloutService;
  locks: ServiceLocks;
  /** can-i-deploy, asked for every contract check of the release before anything is taken. */
  contracts: ContractChecks;
  policy: () => Policy;
  clock: Clock;
  logger: Logger;
  /** Called after every commit so the release's effects run now. */
  onCommitted: (releaseId: string) => void;
  newReleaseId?: () => string;
}

const MAX_CONFLICT_RETRIES = 8;

/**
 * Releases: plans and starts them (every member checked and locked, or nothing), applies people's
 * actions and the members' reports to the coordinator, and stores each new state with its effects.
 */
export class ReleaseService {
  constructor(private readonly deps: ReleaseServiceDeps) {}

  /**
   * Plans the release and starts it, or refuses it naming every problem: a member the person may
   * not start, a version that cannot be started, a member's service busy with another rollout, a
   * member whose provider outside the release has a rollout in progress, a contract check the
   * Pact Broker answers "no" (its reason). Every member's lock is taken before anything is stored;
   * if one cannot be, those taken are given back.
   *
   * A contract check the broker cannot answer does not refuse (the broker may be back in a
   * minute) and does not pass: the release is stored, and its first member's start asks every
   * check again and holds until they are answered (see `ReleaseRunner.startMember`).
   */
  async start(
    members: readonly ReleaseRequestMember[],
    actor: Actor & { userId: string },
    reason?: string,
  ): Promise<ReleaseState> {
    const policy = this.deps.policy();
    const plan = planRelease(policy, members);
    const inRelease = new Set(plan.members.map((m) => m.service));
    const problems: string[] = [];
    for (const m of plan.members) {
      try {
        this.deps.rollouts.authorize('start', m.service, actor);
      } catch (err) {
        problems.push(`${m.service}: ${(err as Error).message}`);
      }
      const preview = await this.deps.rollouts.preview({
        service: m.service,
        version: m.version,
        startedBy: actor.userId,
      });
      problems.push(...preview.refusals.map((r) => `${m.service}@${m.version}: ${r.message}`));
      for (const provider of providersOf(policy.services, m.service)) {
        if (inRelease.has(provider)) continue;
        const holder = await this.deps.locks.holder(provider);
        if (holder !== undefined) {
          problems.push(
            `${m.service} depends on ${provider}, which has its own rollout in progress (${holder}): ` +
              `wait for it to end or abort it with /rollout abort ${holder}, or add ${provider} to the release`,
          );
        }
      }
    }
    if (problems.length > 0) throw new ReleaseRefusedError(problems);
    // Asked only once the rest is fine (a refusal for a typo should not wait on the broker), and
    // before any lock is taken, so a "no" leaves nothing behind.
    const checks = contractChecksFor(plan, policy);
    if (checks.length > 0) {
      const decision = decideContracts(await askContractChecks(this.deps.contracts, checks));
      if (decision.outcome === 'refuse') throw new ReleaseRefusedError([decision.reason]);
      if (decision.outcome === 'hold') {
        this.deps.logger.warn({ reason: decision.reason }, 'release held for its contract checks');
      }
    }
    const id = (this.deps.newReleaseId ?? defaultReleaseId)();
    const taken: { service: string; rolloutId: string }[] = [];
    for (const m of plan.members) {
      const rolloutId = memberRolloutId(id, m.service);
      const holder = await this.deps.locks.acquire(m.service, rolloutId);
      if (holder !== rolloutId) {
        for (const t of taken) await this.deps.locks.release(t.service, t.rolloutId);
        throw new ReleaseRefusedError([
          `${m.service} already has an active rollout, ${holder}: wait for it to end, or abort it with /rollout abort ${holder}`,
        ]);
      }
      taken.push({ service: m.service, rolloutId });
    }
    const now = this.deps.clock.now();
    const created = createRelease(id, plan, actor.userId, now, reason);
    const result = releaseTransition(created, { type: 'start', actor: actor.userId }, now);
    if (!result.ok) throw new ReleaseTransitionRefusedError(result.code, result.reason);
    try {
      await this.deps.store.create({ state: result.state, effects: withIds(result.effects) });
    } catch (err) {
      for (const t of taken) await this.deps.locks.release(t.service, t.rolloutId);
      throw err;
    }
    this.deps.logger.info(
      { audit: true, event: 'release_start', releaseId: id, actor: actor.id },
      `audit: release_start ${id}`,
    );
    this.deps.onCommitted(id);
    return result.state;
  }

  /** Applies an input with optimistic concurrency (reload and apply again on a conflict). */
  async apply(releaseId: string, input: ReleaseInput): Promise<ReleaseState> {
    for (let attempt = 1; ; attempt++) {
      const state = await this.require(releaseId);
      const result = releaseTransition(state, input, this.deps.clock.now());
      if (!result.ok) throw new ReleaseTransitionRefusedError(result.code, result.reason);
      try {
        await this.deps.store.commit({
          state: result.state,
          effects: withIds(result.effects),
          ...(isReleaseTerminal(result.state.status) && {
            retainForMs: this.deps.policy().retention.finishedRollouts,
          }),
        });
        this.deps.onCommitted(releaseId);
        return result.state;
      } catch (err) {
        if (!isRolloutError(err, 'version_conflict') || attempt >= MAX_CONFLICT_RETRIES) throw err;
      }
    }
  }

  /**
   * A member's report (the rollout's `report_to_release` effect). Idempotent: a report the release
   * already has, or one for a release that ended or expired, is dropped.
   */
  async report(releaseId: string, rolloutId: string, report: MemberReport): Promise<void> {
    const state = await this.deps.store.get(releaseId);
    const service = state
      ? Object.entries(state.members).find(([, m]) => m.rolloutId === rolloutId)?.[0]
      : undefined;
    if (state === undefined || service === undefined) {
      this.deps.logger.warn({ releaseId, rolloutId }, 'a member report for no known release');
      return;
    }
    const input: ReleaseInput =
      report.kind === 'progress'
        ? { type: 'member_progress', service, passedWeight: report.passedWeight }
        : report.kind === 'held'
          ? { type: 'member_held', service }
          : report.kind === 'awaiting_widening'
            ? { type: 'member_awaiting_widening', service }
            : {
                type: 'member_ended',
                service,
                status: report.status,
                ...(report.outcome !== undefined && { outcome: report.outcome }),
              };
    await this.applyIfAccepted(releaseId, input);
  }

  /** Applies `input`, dropping a refusal (a replayed report, a release that ended). */
  async applyIfAccepted(releaseId: string, input: ReleaseInput): Promise<void> {
    try {
      await this.apply(releaseId, input);
    } catch (err) {
      if (!(err instanceof ReleaseTransitionRefusedError)) throw err;
      this.deps.logger.debug(
        { releaseId, input: input.type, reason: err.message },
        'release input dropped',
      );
    }
  }

  /**
   * Members' health windows for the release's failure budget: one call per release per batch of
   * samples. A release that is gone, ended, or has no `release.errorBudget` drops them after one
   * read; windows already counted are refused by the coordinator, so a redelivered batch is free.
   */
  async spendBudget(releaseId: string, samples: BudgetSample[]): Promise<void> {
    const state = await this.deps.store.get(releaseId);
    if (state?.errorBudget === undefined || isReleaseTerminal(state.status)) return;
    await this.applyIfAccepted(releaseId, { type: 'budget_samples', samples });
  }

  /** A person pauses, resumes or aborts the release: the same people as may abort every member. */
  async act(
    releaseId: string,
    action: { type: 'pause' | 'resume' } | { type: 'abort'; reason: string },
    actor: Actor & { userId: string },
  ): Promise<ReleaseState> {
    const state = await this.require(releaseId);
    for (const m of state.plan.members) this.deps.rollouts.authorize('abort', m.service, actor);
    return this.apply(
      releaseId,
      action.type === 'abort'
        ? { type: 'abort', actor: actor.userId, reason: action.reason }
        : { type: action.type, actor: actor.userId },
    );
  }

  /** Releases not ended, newest first. */
  async active(): Promise<ReleaseState[]> {
    return this.deps.store.active();
  }

  async get(releaseId: string): Promise<ReleaseState | undefined> {
    return this.deps.store.get(releaseId);
  }

  /**
   * True when `rolloutId` is a member of a release still running that has not created its rollout
   * yet: its lock is the release's, not an orphan (see `RolloutServiceDeps.reservedByRelease`).
   */
  async reserves(rolloutId: string): Promise<boolean> {
    for (const release of await this.deps.store.active()) {
      for (const m of Object.values(release.members)) {
        if (m.rolloutId === rolloutId && (m.state === 'waiting' || m.state === 'starting'))
          return true;
      }
    }
    return false;
  }

  private async require(releaseId: string): Promise<ReleaseState> {
    const state = await this.deps.store.get(releaseId);
    if (!state) throw new ReleaseNotFoundError(releaseId);
    return state;
  }
}

function withIds(effects: ReleaseEffect[]): { id: string; effect: ReleaseEffect }[] {
  return effects.map((effect) => ({ id: randomUUID(), effect }));
}

/** Short enough to type in Slack: `rel-3f9a1c`. */
function defaultReleaseId(): string {
  return `rel-${randomBytes(3).toString('hex')}`;
}
