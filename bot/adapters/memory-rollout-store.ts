import { RolloutExistsError, VersionConflictError } from '../../shared/errors.js';
import {
  RolloutNotFoundError,
  type Commit,
  type HistoryEntry,
  type PendingEffect,
  type RolloutStore,
} from '../../shared/ports/rollout-store.js';
import type { RolloutState, RolloutStatus } from '../../shared/rollout/state.js';
import { decodeSummary, encodeSummary } from './finished-rollout-summary.js';

const DEFAULT_EFFECT_LIMIT = 100;

/**
 * The rollout store for local mode and fast tests. Values go through a JSON round trip on the
 * way in and out, as they do in Redis, so a test that passes here cannot depend on shared
 * references or on `undefined` fields surviving.
 */
export class MemoryRolloutStore implements RolloutStore {
  readonly #states = new Map<string, string>();
  readonly #history = new Map<string, string[]>();
  /** Finished rollouts: when their state and history expire (ms since epoch). */
  readonly #expires = new Map<string, number>();
  /** Finished rollouts: when `compactDue` folds them (ms since epoch). */
  readonly #compactAt = new Map<string, number>();
  /** Folded rollouts: state and history in one deflated record, as in Redis. */
  readonly #summaries = new Map<string, Buffer>();
  /** Per service, per cluster: the newest succeeded rollout that reached it. */
  readonly #stable = new Map<string, Map<string, { version: string; createdAt: number }>>();
  readonly #now: () => number;

  /** `now` tells when finished rollouts expire; default the system clock. */
  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }
  /** Outbox in insertion order, which is `seq` order. */
  readonly #outbox = new Map<string, PendingEffect>();
  #lastSeq = 0;

  async create(commit: Commit): Promise<void> {
    this.#expire();
    const { id } = commit.state;
    if (this.#states.has(id) || this.#summaries.has(id)) throw new RolloutExistsError(id);
    this.#write(commit);
  }

  async get(id: string): Promise<RolloutState | undefined> {
    this.#expire();
    const json = this.#states.get(id);
    if (json !== undefined) return JSON.parse(json) as RolloutState;
    return this.#summaryOf(id)?.state;
  }

  async commit(commit: Commit): Promise<void> {
    this.#expire();
    const { id, version } = commit.state;
    // Check and write with no await in between: that is what makes the commit atomic here.
    const json = this.#states.get(id);
    if (json === undefined) throw new RolloutNotFoundError(id);
    if ((JSON.parse(json) as RolloutState).version !== version - 1) {
      throw new VersionConflictError(id, version - 1);
    }
    this.#write(commit);
  }

  async list(
    filter: { service?: string; statuses?: readonly RolloutStatus[]; limit?: number } = {},
  ): Promise<RolloutState[]> {
    this.#expire();
    const states = [
      ...[...this.#states.values()].map((json) => JSON.parse(json) as RolloutState),
      ...[...this.#summaries.keys()].map((id) => this.#summaryOf(id)!.state),
    ];
    const matching = states
      .filter((s) => filter.service === undefined || s.plan.service === filter.service)
      .filter((s) => filter.statuses === undefined || filter.statuses.includes(s.status))
      .sort(newestFirst);
    return filter.limit === undefined ? matching : matching.slice(0, filter.limit);
  }

  async stableVersions(service: string): Promise<Record<string, string>> {
    const byCluster = this.#stable.get(service) ?? new Map();
    return Object.fromEntries([...byCluster].map(([cluster, { version }]) => [cluster, version]));
  }

  async history(id: string): Promise<HistoryEntry[]> {
    this.#expire();
    const appended = (this.#history.get(id) ?? []).map((json) => JSON.parse(json) as HistoryEntry);
    return [...(this.#summaryOf(id)?.history ?? []), ...appended];
  }

  async appendHistory(id: string, entry: HistoryEntry): Promise<void> {
    this.#expire();
    if (!this.#states.has(id) && !this.#summaries.has(id)) throw new RolloutNotFoundError(id);
    const trail = this.#history.get(id) ?? [];
    trail.push(JSON.stringify(entry));
    this.#history.set(id, trail);
  }

  async pendingEffects(limit = DEFAULT_EFFECT_LIMIT, after = 0): Promise<PendingEffect[]> {
    if (limit <= 0) return [];
    return [...this.#outbox.values()]
      .filter((p) => p.seq > after)
      .sort((a, b) => a.seq - b.seq)
      .slice(0, limit)
      .map((p) => JSON.parse(JSON.stringify(p)) as PendingEffect);
  }

  async markEffectDone(effectId: string): Promise<void> {
    this.#outbox.delete(effectId);
  }

  async compactDue(limit = 100): Promise<number> {
    this.#expire();
    const now = this.#now();
    let folded = 0;
    for (const [id, at] of this.#compactAt) {
      if (folded >= limit) break;
      if (at > now) continue;
      this.#compactAt.delete(id);
      const json = this.#states.get(id);
      if (json === undefined) continue;
      const history = (this.#history.get(id) ?? []).map((h) => JSON.parse(h) as HistoryEntry);
      this.#summaries.set(id, encodeSummary({ state: JSON.parse(json) as RolloutState, history }));
      this.#states.delete(id);
      this.#history.delete(id);
      folded++;
    }
    return folded;
  }

  #summaryOf(id: string) {
    const bytes = this.#summaries.get(id);
    return bytes === undefined ? undefined : decodeSummary(`summary:${id}`, bytes);
  }

  /** Drops finished rollouts whose retention has passed, as Redis expires their keys. */
  #expire(): void {
    const now = this.#now();
    for (const [id, at] of this.#expires) {
      if (at > now) continue;
      this.#states.delete(id);
      this.#history.delete(id);
      this.#expires.delete(id);
      this.#compactAt.delete(id);
      this.#summaries.delete(id);
    }
  }

  #write({ state, effects, history, retainForMs, compactAfterMs }: Commit): void {
    this.#states.set(state.id, JSON.stringify(state));
    if (retainForMs === undefined) this.#expires.delete(state.id);
    else this.#expires.set(state.id, this.#now() + retainForMs);
    if (retainForMs !== undefined && compactAfterMs !== undefined && compactAfterMs < retainForMs)
      this.#compactAt.set(state.id, this.#now() + compactAfterMs);
    if (state.status === 'succeeded') {
      const byCluster = this.#stable.get(state.plan.service) ?? new Map();
      for (const cluster of state.plan.clusters) {
        const current = byCluster.get(cluster);
        if (!current || current.createdAt <= state.createdAt)
          byCluster.set(cluster, { version: state.plan.version, createdAt: state.createdAt });
      }
      this.#stable.set(state.plan.service, byCluster);
    }
    const trail = this.#history.get(state.id) ?? [];
    if (history) trail.push(JSON.stringify(history));
    this.#history.set(state.id, trail);
    for (const { id, effect } of effects) {
      const pending: PendingEffect = {
        id,
        rolloutId: state.id,
        version: state.version,
        seq: ++this.#lastSeq,
        effect,
      };
      this.#outbox.set(id, JSON.parse(JSON.stringify(pending)) as PendingEffect);
    }
  }
}

/** The order of Redis `ZREVRANGE` over (createdAt, id): newest first, then greater id (bytewise). */
function newestFirst(a: RolloutState, b: RolloutState): number {
  if (a.createdAt !== b.createdAt) return b.createdAt - a.createdAt;
  return Buffer.compare(Buffer.from(b.id), Buffer.from(a.id));
}
