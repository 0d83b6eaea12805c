import { randomBytes, randomUUID } from 'node:crypto';
import type { Clock } from '../shared/clock.js';
import { planFromPolicy, type RolloutRequest } from '../shared/config/plan-from-policy.js';
import type { Policy } from '../shared/config/policy.js';
import { isRolloutError, RolloutError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import type { HistoryEntry, RolloutStore } from '../shared/ports/rollout-store.js';
import { RolloutNotFoundError } from '../shared/ports/rollout-store.js';
import type { ServiceLocks } from '../shared/ports/service-locks.js';
import { createRollout, transition } from '../shared/rollout/transition.js';
import {
  ACTIVE_STATUSES,
  type Effect,
  type RejectionCode,
  type RolloutInput,
  type RolloutState,
} from '../shared/rollout/state.js';

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
  { type: 'approve' } | { type: 'pause' } | { type: 'resume' } | { type: 'abort'; reason: string };

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
}

const MAX_CONFLICT_RETRIES = 8;

/**
 * The rollout service: turns requests, agent events and gate results into state transitions,
 * stored with their effects (the outbox) before anything is carried out.
 */
export class RolloutService {
  constructor(private readonly deps: RolloutServiceDeps) {}

  async start(
    request: RolloutRequest,
    actor: Actor = { id: `user:${request.startedBy}` },
  ): Promise<RolloutState> {
    const policy = this.deps.policy();
    const plan = planFromPolicy(policy, request);
    this.authorize('start', plan.service, actor);
    const id = (this.deps.newRolloutId ?? defaultRolloutId)(plan.service);
    const holder = await this.deps.locks.acquire(plan.service, id);
    if (holder !== id) throw new ServiceBusyError(plan.service, holder);
    try {
      const now = this.deps.clock.now();
      const result = transition(
        createRollout(id, plan, now),
        { type: 'start', actor: actor.id },
        now,
      );
      if (!result.ok) throw new TransitionRefusedError(result.code, result.reason);
      await this.deps.store.create({
        state: result.state,
        effects: withIds(result.effects),
        history: entry(result.state, actor.id, 'start', plan.reason),
      });
      this.deps.onCommitted(id);
      return result.state;
    } catch (err) {
      await this.deps.locks.release(plan.service, id);
      throw err;
    }
  }

  /** A person's action on a rollout. Refusals are written to its history and thrown. */
  async act(rolloutId: string, action: UserAction, actor: Actor): Promise<RolloutState> {
    const state = await this.require(rolloutId);
    // The state machine knows people by their Slack id, as the policy's approver lists do.
    const person = actor.id.startsWith('user:') ? actor.id.slice('user:'.length) : actor.id;
    const input: RolloutInput =
      action.type === 'abort'
        ? { type: 'abort', actor: person, reason: action.reason }
        : action.type === 'approve'
          ? { type: 'approve', actor: person, groups: actor.groups ?? [] }
          : { type: action.type, actor: person };
    try {
      // Pause and resume stop and restart production traffic shifts: the same people as abort.
      if (action.type !== 'approve') this.authorize('abort', state.plan.service, actor);
      return await this.apply(rolloutId, input, actor.id);
    } catch (err) {
      if (isRolloutError(err)) {
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
          history: entry(result.state, actor, input.type, detailOf(input)),
        });
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

  private authorize(action: 'start' | 'abort', service: string, actor: Actor): void {
    const policy = this.deps.policy().services[service];
    if (!policy || !actor.id.startsWith('user:')) return;
    const allowed = policy.permissions[action];
    if (allowed.length === 0) return;
    const user = actor.id.slice('user:'.length);
    if (allowed.includes(user) || (actor.groups ?? []).some((g) => allowed.includes(g))) return;
    throw new PermissionDeniedError(action, allowed, service);
  }
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
