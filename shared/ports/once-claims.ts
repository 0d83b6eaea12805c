/**
 * "Exactly one replica does this": the first caller to claim a key within its time-to-live wins.
 * Periodic sweeps claim their tick, and alerts claim their episode, so N bot replicas sweep and
 * alert once.
 */
export interface OnceClaims {
  /** True for the first claim of `key` until `ttlMs` passes; false for every other. */
  claim(key: string, ttlMs: number): Promise<boolean>;
}
