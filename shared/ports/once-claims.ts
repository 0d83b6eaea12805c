/**
 * "Exactly one replica does this": the first caller to claim a key within its time-to-live wins.
 * Periodic sweeps claim their tick, and alerts claim their episode, so N bot replicas sweep and
 * alert once.
 *
 * A `group` (a rollout id) holds many claims of one thing together in one record: a rollout's
 * thread lines claim one key each, and kept apart they would be dozens of records per finished
 * rollout. A grouped claim holds until the group ends: the longest time-to-live any claim of the
 * group asked for, counted from when it was made (never shorter than its own `ttlMs`), or until
 * it is released.
 */
export interface OnceClaims {
  /** True for the first claim of `key` (within `group`, if given) until it expires; false for every other. */
  claim(key: string, ttlMs: number, group?: string): Promise<boolean>;
  /**
   * Ends the claim on `key` (within `group`, if given) now, so the next `claim` wins at once (work
   * that failed can be taken up again without waiting out the time-to-live). Idempotent. Only its
   * winner should call it, and only before the time-to-live has passed: afterwards the key may be
   * someone else's claim.
   */
  release(key: string, group?: string): Promise<void>;
}
