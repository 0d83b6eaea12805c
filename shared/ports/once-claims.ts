/**
 * "Exactly one replica does this": the first caller to claim a key within its time-to-live wins.
 * Periodic sweeps claim their tick, and alerts claim their episode, so N bot replicas sweep and
 * alert once.
 */
export interface OnceClaims {
  /** True for the first claim of `key` until `ttlMs` passes; false for every other. */
  claim(key: string, ttlMs: number): Promise<boolean>;
  /**
   * Ends the claim on `key` now, so the next `claim` wins at once (work that failed can be taken
   * up again without waiting out the time-to-live). Idempotent. Only its winner should call it,
   * and only before the time-to-live has passed: afterwards the key may be someone else's claim.
   */
  release(key: string): Promise<void>;
}
