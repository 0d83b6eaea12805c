/**
 * One active rollout per service. A lock is held by a rollout id from its start until it reaches
 * a terminal state; `release_lock` effects free it, and the bot's sweep frees a lock whose holder
 * never came to exist (a crash between taking the lock and storing the rollout) or has ended.
 */
export interface ServiceLocks {
  /**
   * Claims `service` for `rolloutId`. Resolves with the id now holding the lock: `rolloutId`
   * when claimed (or already held by it), another rollout's id when that one is active.
   */
  acquire(service: string, rolloutId: string): Promise<string>;
  /** Frees the lock only if `rolloutId` holds it (a late release never frees a newer rollout's lock). */
  release(service: string, rolloutId: string): Promise<void>;
  /** The rollout holding `service`, or `undefined` when it is free. */
  holder(service: string): Promise<string | undefined>;
  /**
   * Every lock held now, in no particular order. `acquiredAt` is when the holder claimed it (ms
   * since epoch, by the adapter's clock); 0 when unknown (a lock written before this was kept).
   */
  holders(): Promise<HeldLock[]>;
  /**
   * The service's next fencing number: greater than every number returned for `service` before,
   * and never below the adapter's clock in milliseconds, so it keeps growing even if the store
   * lost its data. A rollout takes one at start and every command it sends carries it; agents
   * refuse commands whose number is below the one their route records (see `commandFields`).
   */
  nextFence(service: string): Promise<number>;
}

export interface HeldLock {
  service: string;
  rolloutId: string;
  acquiredAt: number;
}
