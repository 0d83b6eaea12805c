import { VersionConflictError } from '../../shared/errors.js';
import {
  ReleaseExistsError,
  ReleaseNotFoundError,
  type PendingReleaseEffect,
  type ReleaseCommit,
  type ReleaseStore,
} from '../../shared/ports/release-store.js';
import { isReleaseTerminal, type ReleaseState } from '../../shared/release/state.js';

const DEFAULT_EFFECT_LIMIT = 100;

/**
 * The release store for local mode and fast tests. Values go through JSON on the way in and out,
 * as they do in Redis, so a test that passes here cannot depend on shared references.
 */
export class MemoryReleaseStore implements ReleaseStore {
  readonly #states = new Map<string, string>();
  /** Ended releases: when their state expires (ms since epoch). */
  readonly #expires = new Map<string, number>();
  /** In insertion order, which is `seq` order. */
  readonly #outbox = new Map<string, PendingReleaseEffect>();
  #lastSeq = 0;
  readonly #now: () => number;

  /** `now` tells when ended releases expire; default the system clock. */
  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  async create(commit: ReleaseCommit): Promise<void> {
    this.#expire();
    if (this.#states.has(commit.state.id)) throw new ReleaseExistsError(commit.state.id);
    this.#write(commit);
  }

  async get(id: string): Promise<ReleaseState | undefined> {
    this.#expire();
    const json = this.#states.get(id);
    return json === undefined ? undefined : (JSON.parse(json) as ReleaseState);
  }

  async commit(commit: ReleaseCommit): Promise<void> {
    this.#expire();
    const { id, version } = commit.state;
    // Check and write with no await in between: that is what makes the commit atomic here.
    const json = this.#states.get(id);
    if (json === undefined) throw new ReleaseNotFoundError(id);
    if ((JSON.parse(json) as ReleaseState).version !== version - 1) {
      throw new VersionConflictError(id, version - 1);
    }
    this.#write(commit);
  }

  async active(): Promise<ReleaseState[]> {
    this.#expire();
    return [...this.#states.values()]
      .map((json) => JSON.parse(json) as ReleaseState)
      .filter((s) => !isReleaseTerminal(s.status))
      .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1));
  }

  async pendingEffects(limit = DEFAULT_EFFECT_LIMIT): Promise<PendingReleaseEffect[]> {
    return [...this.#outbox.values()].slice(0, limit).map((e) => structuredClone(e));
  }

  async markEffectDone(effectId: string): Promise<void> {
    this.#outbox.delete(effectId);
  }

  #write({ state, effects, retainForMs }: ReleaseCommit): void {
    this.#states.set(state.id, JSON.stringify(state));
    if (retainForMs !== undefined) this.#expires.set(state.id, this.#now() + retainForMs);
    for (const { id, effect } of effects) {
      this.#outbox.set(id, {
        id,
        releaseId: state.id,
        version: state.version,
        seq: ++this.#lastSeq,
        effect: JSON.parse(JSON.stringify(effect)) as PendingReleaseEffect['effect'],
      });
    }
  }

  #expire(): void {
    const now = this.#now();
    for (const [id, at] of this.#expires) {
      if (at > now) continue;
      this.#states.delete(id);
      this.#expires.delete(id);
    }
  }
}
