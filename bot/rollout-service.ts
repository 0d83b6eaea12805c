import { randomBytes, randomUUID } from 'node:crypto';
import type { Clock } from '../shared/clock.js';
import { planFromPolicy, type RolloutRequest } from '../shared/config/plan-from-policy.js';
import type { Policy } from '../shared/config/policy.js';
import type { RolloutPlan } from '../shared/rollout/plan.js';
import { isRolloutError, RolloutError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import type { HistoryEntry, RolloutStore } from '../shared/ports/rollout-store.js';
import { RolloutNotFoundError } from '../shared/ports/rollout-store.js';
import type { HeldLock, ServiceLocks } from '../shared/ports/service-locks.js';
import { auditRecords, type AuditRecord } from '../shared/rollout/audit.js';
import { keepsHistoryLine } from '../shared/rollout/history-lines.js';
import { createRollout, transition } from '../shared/rollout/transition.js';
import {
  ACTIVE_STATUSES,
  isTerminal,
  type Effect,
  type RejectionCode,
  type RolloutInput,
  type RolloutState,
} from '../shared/rollout/state.js';
import { versionRefusal } from './start-checks.js';

/** The service already has an active rollout; the message names it. */
export class ServiceBusyError extends RolloutError {
  constructor(
    readonly service: string,
    readonly activeRolloutId: string,
  ) {
    super(
      'service_busy',
      `${service} already has an active rollout, ${activeRolloutId}: wait for it to end, or abort it with /rollout abort ${activeRolloutId}`,
    );
  }
}

/** The state machine refused the input; `code` is its rejection code, the message its reason. */
export class TransitionRefusedError extends RolloutError {
  constructor(
    readonly refusal: RejectionCode,
    reason: string,
  ) {
    super(refusal, reason);
  }
}

/** Who may do what, per service, from the policy file. Empty lists mean anyone. */
/** Succeeded rollouts read back to find each cluster's stable version (newest first). */
const STABLE_LOOKBACK = 50;

export class PermissionDeniedError extends RolloutError {
  constructor(
    readonly action: string,
    readonly allowed: string[],
    service: string,
  ) {
    super(
      'not_permitted',
      `you may not ${action} rollouts of ${service}; ask one of ${allowed.map(mention).join(', ')}`,
    );
  }
}

function mention(id: string): string {
  return id.startsWith('S') ? `<!subteam^${id}>` : `<@${id}>`;
}

export type UserAction =
  | { type: 'approve' }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'abort'; reason: string }
  /** Releases a rollback that cannot finish; the same people as abort may. */
  | { type: 'force_finish'; reason: string };

export interface Actor {
  /** `user:U123`, `system:gate`, `agent:eu-west`. */
  id: string;
  /** Slack user groups the user belongs to, for permission checks. */
  groups?: string[];
}

export interface RolloutServiceDeps {
  store: RolloutStore;
  locks: ServiceLocks;
  policy: () => Policy;
  clock: Clock;
  logger: Logger;
  /** Called after every commit so its effects run now rather than at the next sweep. */
  onCommitted: (rolloutId: string) => void;
  newRolloutId?: (service: string) => string;
  /**
   * True when a lock's holder id is a release member not started yet: the release took the lock
   * at its start, so the sweep must not free it as orphaned. Absent: no releases here.
   */
  reservedByRelease?: (rolloutId: string) => Promise<boolean>;
}

/** How a release starts one of its members (see `RolloutService.start`). */
export interface MemberStart {
  /** The member's deterministic rollout id (`memberRolloutId`); its lock is already held by it. */
  id: string;
  releaseId: string;
  /** It holds after its first stage until the release's contract check lets it widen. */
  holdBeforeWidening?: boolean;
}

const MAX_CONFLICT_RETRIES = 8;

/**
 * The rollout service: turns requests, agent events and gate results into state transitions,
 * stored with their effects (the outbox) before anything is carried out.
 */
export class RolloutService {
  constructor(private readonly deps: RolloutServiceDeps) {}

  /**
   * Plans, takes the service's lock and stores the new rollout with its first effects. The plan's
   * stable version is that of the service's last succeeded rollout (the policy file's only before
   * the first): the version that rollout promoted is what runs now, and what a rollback returns to.
   * Starting that same version is refused, and so is an older one unless `allowDowngrade`.
   */
  async start(
    request: RolloutRequest,
    actor: Actor = { id: `user:${request.startedBy}` },
    member?: MemberStart,
  ): Promise<RolloutState> {
    // A release member started again (a replayed effect after a crash) finds itself: never twice.
    const existing = member && (await this.deps.store.get(member.id));
    if (existing) return existing;
    const planned = await this.plan(request);
    const plan: RolloutPlan = member
      ? {
          ...planned,
          releaseId: member.releaseId,
          holdBeforePromote: true,
          ...(member.holdBeforeWidening === true && { holdBeforeWidening: true }),
        }
      : planned;
    try {
      this.authorize('start', plan.service, actor);
    } catch (err) {
      if (isRolloutError(err)) {
        // No rollout exists to carry the refusal in its history: the log is its only trace.
        this.deps.logger.info(
          {
            audit: true,
            event: 'denied',
            service: plan.service,
            version: plan.version,
            actor: actor.id,
            outcome: `start refused (${err.code}): ${err.message}`,
          },
          `audit: denied start of ${plan.service}`,
        );
      }
      throw err;
    }
    const refusal = versionRefusal(plan, request.allowDowngrade === true);
    if (refusal) throw refusal;
    const id = member?.id ?? (this.deps.newRolloutId ?? defaultRolloutId)(plan.service);
    const holder = await this.deps.locks.acquire(plan.service, id);
    if (holder !== id) throw new ServiceBusyError(plan.service, holder);
    // Taken under the lock, so fences follow the order in which rollouts of the service start.
    const fence = await this.deps.locks.nextFence(plan.service);
    const now = this.deps.clock.now();
    const result = transition(
      createRollout(id, plan, now, fence),
      { type: 'start', actor: actor.id },
      now,
    );
    if (!result.ok) {
      await this.deps.locks.release(plan.service, id);
      throw new TransitionRefusedError(result.code, result.reason);
    }
    try {
      await this.deps.store.create({
        state: result.state,
        effects: withIds(result.effects),
        history: entry(result.state, actor.id, 'start', plan.reason),
      });
    } catch (err) {
      if (!(await this.settleFailedCreate(result.state, err))) throw err;
    }
    this.audit(result.state, actor.id, { event: 'start', outcome: result.state.status });
    this.deps.onCommitted(id);
    return result.state;
  }

  /**
   * What `start` would do now, without starting anything: the plan it would make (with the stable
   * version a start would use) and every reason a start would be refused now (the version, another
   * active rollout of the service). Permissions are the caller's to show.
   */
  async preview(request: RolloutRequest): Promise<{ plan: RolloutPlan; refusals: RolloutError[] }> {
    const plan = await this.plan(request);
    const refusals: RolloutError[] = [];
    const version = versionRefusal(plan, request.allowDowngrade === true);
    if (version) refusals.push(version);
    const holder = await this.deps.locks.holder(plan.service);
    if (holder) refusals.push(new ServiceBusyError(plan.service, holder));
    return { plan, refusals };
  }

  /** The plan of a request against the policy and the stable version the bot knows. */
  private async plan(request: RolloutRequest): Promise<RolloutPlan> {
    const policy = this.deps.policy();
    const service = policy.services[request.service];
    const stableVersions = service
      ? await this.stableVersionsOf(request.service, service.clusters)
      : {};
    return planFromPolicy(policy, request, { stableVersions });
  }

  /**
   * After `create` rejected: a rejection does not prove nothing was written (a reply lost on the
   * way back, a command resent after a reconnect that then found its own rollout). True when our
   * rollout is stored after all: the start succeeded. The lock is freed only when the rollout is
   * confirmed absent (or the id turned out to belong to an ended rollout); when that cannot be
   * told (the store is down) the lock stays, and the sweep frees it if the rollout never appears
   * (`releaseOrphanedLocks`). Never frees the lock of a live rollout.
   */
  private async settleFailedCreate(mine: RolloutState, err: unknown): Promise<boolean> {
    const { id, plan } = mine;
    let stored: RolloutState | undefined;
    try {
      stored = await this.deps.store.get(id);
    } catch (readErr) {
      this.deps.logger.warn(
        { rolloutId: id, err, readErr },
        'storing a new rollout failed and it cannot be told whether it was stored; its lock stays until the sweep checks',
      );
      return false;
    }
    if (stored && isSameStart(stored, mine)) {
      this.deps.logger.warn(
        { rolloutId: id, err },
        'storing a new rollout reported a failure, but the rollout is stored: carrying on',
      );
      return true;
    }
    if (stored === undefined || isTerminal(stored.status)) {
      await this.deps.locks.release(plan.service, id);
    }
    return false;
  }

  /** Folds finished rollouts due for it into their compact summary (the sweep); how many. */
  async compactFinished(limit?: number): Promise<number> {
    return await this.deps.store.compactDue(limit);
  }

  /**
   * Frees service locks no live rollout holds: the holder ended (its `release_lock` effect has
   * not run yet, or never will) or it does not exist `graceMs` after the lock was taken (a crash
   * between taking the lock and storing the rollout). The grace covers a start still in flight.
   * Safe on every replica at once: a release only frees a lock still held by that same id.
   * Returns what it freed.
   */
  async releaseOrphanedLocks(graceMs: number): Promise<HeldLock[]> {
    const freed: HeldLock[] = [];
    for (const lock of await this.deps.locks.holders()) {
      const state = await this.deps.store.get(lock.rolloutId);
      const orphaned = state
        ? isTerminal(state.status)
        : this.deps.clock.now() - lock.acquiredAt >= graceMs &&
          !(await this.deps.reservedByRelease?.(lock.rolloutId));
      if (!orphaned) continue;
      await this.deps.locks.release(lock.service, lock.rolloutId);
      this.deps.logger.warn(
        { ...lock, holder: state ? state.status : 'missing' },
        'freed a service lock no live rollout holds',
      );
      freed.push(lock);
    }
    return freed;
  }

  /**
   * What each cluster runs now, as far as the bot knows: the version of the newest succeeded
   * rollout of the service that reached it (a rollout with `--clusters` reaches only some).
   * Clusters no succeeded rollout reached are left out (the policy's `stableVersion` applies).
   */
  private async stableVersionsOf(
    service: string,
    clusters: string[],
  ): Promise<Record<string, string>> {
    // The store records what each succeeded rollout made stable (one read); only clusters it has
    // nothing for (rollouts that succeeded before it kept that) are looked up in the rollouts.
    const versions: Record<string, string> = {};
    const kept = await this.deps.store.stableVersions(service);
    for (const cluster of clusters) {
      if (kept[cluster] !== undefined) versions[cluster] = kept[cluster];
    }
    if (clusters.every((c) => versions[c] !== undefined)) return versions;
    const succeeded = await this.deps.store.list({
      service,
      statuses: ['succeeded'],
      limit: STABLE_LOOKBACK,
    });
    for (const rollout of succeeded) {
      for (const cluster of rollout.plan.clusters) {
        if (clusters.includes(cluster) && versions[cluster] === undefined) {
          versions[cluster] = rollout.plan.version;
        }
      }
      if (clusters.every((c) => versions[c] !== undefined)) break;
    }
    return versions;
  }

  /** A person's action on a rollout. Refusals are written to its history and thrown. */
  async act(rolloutId: string, action: UserAction, actor: Actor): Promise<RolloutState> {
    const state = await this.require(rolloutId);
    // The state machine knows people by their Slack id, as the policy's approver lists do.
    const person = actor.id.startsWith('user:') ? actor.id.slice('user:'.length) : actor.id;
    const input: RolloutInput =
      action.type === 'abort' || action.type === 'force_finish'
        ? { type: action.type, actor: person, reason: action.reason }
        : action.type === 'approve'
          ? { type: 'approve', actor: person, groups: actor.groups ?? [] }
          : { type: action.type, actor: person };
    try {
      // Pause and resume stop and restart production traffic shifts: the same people as abort.
      if (action.type !== 'approve') this.authorize('abort', state.plan.service, actor);
      return await this.apply(rolloutId, input, actor.id);
    } catch (err) {
      if (isRolloutError(err)) {
        this.audit(state, actor.id, {
          event: 'denied',
          outcome: `${action.type} refused (${err.code}): ${err.message}`,
        });
        await this.deps.store.appendHistory(rolloutId, {
          at: this.deps.clock.now(),
          version: state.version,
          actor: actor.id,
          input: 'denied',
          status: state.status,
          detail: `${action.type} refused: ${err.message}`,
        });
      }
      throw err;
    }
  }

  /**
   * Applies an input with optimistic concurrency: on a version conflict it reloads and applies
   * again, so two bot replicas handling events of one rollout never both win.
   */
  async apply(rolloutId: string, input: RolloutInput, actor: string): Promise<RolloutState> {
    for (let attempt = 1; ; attempt++) {
      const state = await this.require(rolloutId);
      const result = transition(state, input, this.deps.clock.now());
      if (!result.ok) throw new TransitionRefusedError(result.code, result.reason);
      try {
        await this.deps.store.commit({
          state: result.state,
          effects: withIds(result.effects),
          ...(keepsHistoryLine(state, input, result.state) && {
            history: entry(result.state, actor, input.type, detailOf(input)),
          }),
          // A finished rollout is kept for the policy's retention, folded into a compact summary
          // once its working state (health samples) has gone, then expires.
          ...(isTerminal(result.state.status) && finishedRetention(this.deps.policy())),
        });
        // Only once stored: a commit that lost a version conflict did not happen.
        for (const record of auditRecords(state, input, result.state))
          this.audit(result.state, actor, record);
        this.deps.onCommitted(rolloutId);
        return result.state;
      } catch (err) {
        if (!isRolloutError(err, 'version_conflict') || attempt >= MAX_CONFLICT_RETRIES) throw err;
        this.deps.logger.debug({ rolloutId, attempt }, 'version conflict, applying again');
      }
    }
  }

  async get(rolloutId: string): Promise<RolloutState | undefined> {
    return this.deps.store.get(rolloutId);
  }

  /** By id, or the service's active rollout, else its latest. */
  async status(idOrService: string): Promise<RolloutState | undefined> {
    const byId = await this.deps.store.get(idOrService);
    if (byId) return byId;
    const active = await this.deps.locks.holder(idOrService);
    if (active) return this.deps.store.get(active);
    return (await this.deps.store.list({ service: idOrService, limit: 1 }))[0];
  }

  async list(): Promise<RolloutState[]> {
    return this.deps.store.list({ statuses: ACTIVE_STATUSES });
  }

  async history(service: string, limit = 10): Promise<RolloutState[]> {
    return this.deps.store.list({ service, limit });
  }

  async auditTrail(rolloutId: string): Promise<HistoryEntry[]> {
    return this.deps.store.history(rolloutId);
  }

  async activeRolloutOf(service: string): Promise<string | undefined> {
    return this.deps.locks.holder(service);
  }

  private async require(rolloutId: string): Promise<RolloutState> {
    const state = await this.deps.store.get(rolloutId);
    if (!state) throw new RolloutNotFoundError(rolloutId);
    return state;
  }

  /**
   * One structured line per decision that moves or stops traffic (`audit: true`), for operators
   * to search and ship: the card's thread is for people in the channel, this is for the log.
   */
  private audit(state: RolloutState, actor: string, record: AuditRecord): void {
    this.deps.logger.info(
      {
        audit: true,
        event: record.event,
        rolloutId: state.id,
        service: state.plan.service,
        version: state.plan.version,
        actor,
        outcome: record.outcome,
      },
      `audit: ${record.event} ${state.id}`,
    );
  }

  /** Throws `PermissionDeniedError` unless `actor` may start (or abort) rollouts of `service`. */
  authorize(action: 'start' | 'abort', service: string, actor: Actor): void {
    const policy = this.deps.policy().services[service];
    if (!policy || !actor.id.startsWith('user:')) return;
    const allowed = policy.permissions[action];
    if (allowed.length === 0) return;
    const user = actor.id.slice('user:'.length);
    if (allowed.includes(user) || (actor.groups ?? []).some((g) => allowed.includes(g))) return;
    throw new PermissionDeniedError(action, allowed, service);
  }
}

/** The stored rollout is the one this start tried to write (not an older one with the same id). */
function isSameStart(stored: RolloutState, mine: RolloutState): boolean {
  return (
    stored.createdAt === mine.createdAt &&
    stored.plan.version === mine.plan.version &&
    stored.plan.startedBy === mine.plan.startedBy
  );
}

function withIds(effects: Effect[]): { id: string; effect: Effect }[] {
  return effects.map((effect) => ({ id: randomUUID(), effect }));
}

function entry(
  state: RolloutState,
  actor: string,
  input: HistoryEntry['input'],
  detail?: string,
): HistoryEntry {
  return {
    at: state.updatedAt,
    version: state.version,
    actor,
    input,
    status: state.status,
    ...(detail ? { detail } : {}),
  };
}

function detailOf(input: RolloutInput): string | undefined {
  switch (input.type) {
    case 'abort':
    case 'force_finish':
      return input.reason;
    case 'command_failed':
      return `${input.cluster}: ${input.commandType} failed: ${input.reason}`;
    case 'stage_applied':
      return `${input.cluster} at ${input.weight}% (stage ${input.stageIndex + 1})`;
    case 'promoted':
    case 'rolled_back':
      return input.cluster;
    case 'gate_result':
      return `${input.verdict.outcome}: ${input.verdict.summary}`;
    default:
      return undefined;
  }
}

/** Short, readable, unique enough to type in Slack: `checkout-3f9a1c`. */
function defaultRolloutId(service: string): string {
  return `${service}-${randomBytes(3).toString('hex')}`;
}

/** How long a finished rollout is kept, and when it is folded into its summary. */
function finishedRetention(policy: Policy): { retainForMs: number; compactAfterMs: number } {
  const { finishedRollouts, samples } = policy.retention;
  return { retainForMs: finishedRollouts, compactAfterMs: Math.min(samples, finishedRollouts) };
}
