import type { Effect, RolloutInput, RolloutState, RolloutStatus } from '../rollout/state.js';

/** An effect waiting in the outbox. `id` is stable across replays (it becomes the message id). */
export interface PendingEffect {
  id: string;
  rolloutId: string;
  /** The rollout version that produced it: effects of one rollout run in version order. */
  version: number;
  effect: Effect;
}

/** One line of a rollout's audit trail: the accepted input, or a refusal, and who caused it. */
export interface HistoryEntry {
  at: number;
  version: number;
  actor: string;
  input: RolloutInput['type'] | 'create' | 'denied';
  status: RolloutStatus;
  detail?: string;
}

/**
 * What a commit writes, all or nothing: the new state (whose `version` must be one more than
 * the stored one), its effects into the outbox, and a history entry.
 */
export interface Commit {
  state: RolloutState;
  effects: { id: string; effect: Effect }[];
  history: HistoryEntry;
}

export interface RolloutStore {
  /** Stores a new rollout. Rejects with `RolloutExistsError` if the id is taken. */
  create(commit: Commit): Promise<void>;
  /** `undefined` when no rollout has that id. */
  get(id: string): Promise<RolloutState | undefined>;
  /**
   * Replaces the rollout at `commit.state.version - 1`. Rejects with `VersionConflictError`
   * when another writer committed first: reload and re-apply the input.
   */
  commit(commit: Commit): Promise<void>;
  /** Rollouts, newest first, optionally filtered by service and by status. */
  list(filter?: { service?: string; statuses?: readonly RolloutStatus[]; limit?: number }): Promise<RolloutState[]>;
  history(id: string): Promise<HistoryEntry[]>;
  /** Appends to the audit trail without changing the state (denied actions). */
  appendHistory(id: string, entry: HistoryEntry): Promise<void>;
  /** Outbox entries not yet marked done, oldest version first, across rollouts. */
  pendingEffects(limit?: number): Promise<PendingEffect[]>;
  /** Idempotent: marking an unknown or already-done effect is not an error. */
  markEffectDone(effectId: string): Promise<void>;
}
