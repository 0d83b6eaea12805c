/** One gate evaluation: the rollout, its stage, and the tick within the stage's bake. */
export interface GateJob {
  rolloutId: string;
  stageIndex: number;
  tick: number;
}

/** When a run's job was due (ms since epoch), for the gate-lag metric; retries keep the first due time. */
export interface GateJobTiming {
  dueAt: number;
}

export type GateJobHandler = (job: GateJob, timing?: GateJobTiming) => Promise<void>;

export interface GateScheduler {
  /**
   * Runs `job` after `delayMs` (not before; later if no scheduler is started). At most once per
   * (rolloutId, stageIndex, tick): scheduling the same job again, even after it ran or was
   * cancelled, returns false and schedules nothing; of concurrent calls exactly one returns true.
   * Safe to replay from the outbox: a call that crashed half-way can be repeated.
   */
  schedule(job: GateJob, delayMs: number): Promise<boolean>;
  /**
   * Removes the rollout's evaluations that are not running now (delayed, due, or waiting to be
   * retried). Returns how many were removed. A cancelled (rolloutId, stageIndex, tick) stays
   * used: schedule the next evaluation with a new tick.
   */
  cancel(rolloutId: string): Promise<number>;
  /**
   * Starts running due jobs with `handler`. A job whose handler rejects is retried; a job
   * interrupted by a crash runs again, so handlers must be idempotent.
   */
  start(handler: GateJobHandler): Promise<void>;
  /** Stops taking jobs, waits for running handlers, releases connections. Idempotent. */
  close(): Promise<void>;
}
