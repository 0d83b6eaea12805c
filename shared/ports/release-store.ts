import { RolloutError } from '../errors.js';
import type { ReleaseEffect, ReleaseState } from '../release/state.js';

/** A release effect waiting in the outbox. `id` is stable across replays. */
export interface PendingReleaseEffect {
  id: string;
  releaseId: string;
  /** The release version that produced it. */
  version: number;
  /** Insertion order across all releases: one release's effects in the order its commits wrote them. */
  seq: number;
  effect: ReleaseEffect;
}

/**
 * What a commit writes, all or nothing: the new state (`version` one more than the stored one)
 * and its effects into the outbox. `retainForMs`: set when the release ended; its state expires
 * this long after the commit.
 */
export interface ReleaseCommit {
  state: ReleaseState;
  effects: { id: string; effect: ReleaseEffect }[];
  retainForMs?: number;
}

/**
 * Durable releases with an outbox, like `RolloutStore`. Every method returns copies.
 */
export interface ReleaseStore {
  /** Stores a new release with its effects. Rejects with `ReleaseExistsError` if the id is taken. */
  create(commit: ReleaseCommit): Promise<void>;
  /** `undefined` when no release has that id (or it expired). */
  get(id: string): Promise<ReleaseState | undefined>;
  /**
   * Replaces the release at `commit.state.version - 1`. Rejects with `VersionConflictError` when
   * another writer committed first (reload and apply again), `ReleaseNotFoundError` for an
   * unknown id.
   */
  commit(commit: ReleaseCommit): Promise<void>;
  /** Releases not ended, newest `createdAt` first. */
  active(): Promise<ReleaseState[]>;
  /** Outbox entries not yet done, oldest first by `seq`, at most `limit` (default 100). */
  pendingEffects(limit?: number): Promise<PendingReleaseEffect[]>;
  /** Idempotent: an unknown or already-done effect is not an error. */
  markEffectDone(effectId: string): Promise<void>;
}

export class ReleaseNotFoundError extends RolloutError {
  constructor(readonly releaseId: string) {
    super(
      'unknown_release',
      `no release has id ${releaseId}; /rollout list shows the current rollouts and the releases they belong to`,
    );
  }
}

export class ReleaseExistsError extends RolloutError {
  constructor(readonly releaseId: string) {
    super('release_exists', `a release with id ${releaseId} already exists`);
  }
}
