import { RolloutError } from '../errors.js';
import type { Effect, RolloutInput, RolloutState, RolloutStatus } from '../rollout/state.js';

/** An effect waiting in the outbox. `id` is stable across replays (it becomes the message id). */
export interface PendingEffect {
  id: string;
  rolloutId: string;
  /** The rollout version that produced it. */
  version: number;
  /**
   * Its place in the outbox: increases with every effect stored, across all rollouts, so one
   * rollout's effects are numbered in the order its commits wrote them. A paging cursor.
   */
  seq: number;
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
 * the stored one), its effects into the outbox, and a history entry. A commit without one leaves
 * the history as it was (routine gate ticks and health counts: `keepsHistoryLine`); `create`
 * always has one.
 */
export interface Commit {
  state: RolloutState;
  effects: { id: string; effect: Effect }[];
  history?: HistoryEntry;
  /**
   * Set on commits of a finished rollout: its state and history expire this long after the
   * commit (and it leaves `list`). `stableVersions` keeps what it made stable.
   */
  retainForMs?: number;
  /**
   * With `retainForMs`: this long after the commit, `compactDue` folds the finished rollout's
   * state and history into one compact summary record (its working state has gone by then).
   */
  compactAfterMs?: number;
}

/**
 * Durable rollouts with an outbox. Every method returns copies: mutating what it returns (or
 * what was passed in) never changes what is stored.
 */
export interface RolloutStore {
  /**
   * Stores a new rollout with its effects and first history entry, all or nothing. Rejects with
   * `RolloutExistsError` if the id is taken.
   */
  create(commit: Commit): Promise<void>;
  /** `undefined` when no rollout has that id. */
  get(id: string): Promise<RolloutState | undefined>;
  /**
   * Replaces the rollout at `commit.state.version - 1`. Rejects with `VersionConflictError`
   * when another writer committed first (of two commits from the same base, exactly one wins):
   * reload and re-apply the input. Rejects with `RolloutNotFoundError` for an unknown id.
   */
  commit(commit: Commit): Promise<void>;
  /**
   * Rollouts, newest `createdAt` first (ties: greater id first), optionally filtered by service
   * and by status. No limit means all that match.
   */
  list(filter?: {
    service?: string;
    statuses?: readonly RolloutStatus[];
    limit?: number;
  }): Promise<RolloutState[]>;
  /**
   * Per cluster, the plan version of the service's newest (by `createdAt`) succeeded rollout that
   * reached it, recorded as it succeeded and kept after the rollout itself expired. Clusters no
   * succeeded rollout reached are absent.
   */
  stableVersions(service: string): Promise<Record<string, string>>;
  /** The audit trail in the order it was written; empty for an unknown id. */
  history(id: string): Promise<HistoryEntry[]>;
  /**
   * Appends to the audit trail without changing the state (denied actions). Rejects with
   * `RolloutNotFoundError` for an unknown id.
   */
  appendHistory(id: string, entry: HistoryEntry): Promise<void>;
  /**
   * Outbox entries not yet marked done, oldest first by `seq` (insertion order across all
   * rollouts): the effects of one rollout come in the order its commits wrote them, and no
   * rollout's effects wait behind effects stored after them. At most `limit` (default 100), and
   * only those with `seq` greater than `after` (default: from the start), to page past entries
   * the caller cannot run yet.
   */
  pendingEffects(limit?: number, after?: number): Promise<PendingEffect[]>;
  /** Idempotent: marking an unknown or already-done effect is not an error. */
  markEffectDone(effectId: string): Promise<void>;
  /**
   * Folds up to `limit` (default 100) finished rollouts whose `compactAfterMs` passed into one
   * compact summary record each, kept until their retention ends. Lossless: `get`, `list`,
   * `history` and `appendHistory` answer as before. Returns how many it folded. Safe on several
   * replicas at once: each rollout is folded once, and one changed meanwhile is left for later.
   */
  compactDue(limit?: number): Promise<number>;
}

export class RolloutNotFoundError extends RolloutError {
  constructor(readonly rolloutId: string) {
    super(
      'unknown_rollout',
      `no rollout has id ${rolloutId}; /rollout list shows the current ones`,
    );
  }
}

/** A stored record that does not parse: names the key so an operator can inspect or repair it. */
export class CorruptRecordError extends RolloutError {
  constructor(
    readonly key: string,
    detail: string,
  ) {
    super('corrupt_record', `stored record ${key} is not valid: ${detail}`);
  }
}
