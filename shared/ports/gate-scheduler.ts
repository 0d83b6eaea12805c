/** One gate evaluation: the rollout, its stage, and the tick within the stage's bake. */
export interface GateJob {
  rolloutId: string;
  stageIndex: number;
  tick: number;
}

export type GateJobHandler = (job: GateJob) => Promise<void>;

export interface GateScheduler {
  /**
   * Runs `job` after `delayMs`. At most once per (rolloutId, stageIndex, tick): scheduling the
   * same job again, even after it ran, returns false and schedules nothing.
   */
  schedule(job: GateJob, delayMs: number): Promise<boolean>;
  /** Removes the rollout's evaluations that have not started. Returns how many were removed. */
  cancel(rolloutId: string): Promise<number>;
  /**
   * Starts running due jobs with `handler`. A job whose handler rejects is retried; a job
   * interrupted by a crash runs again, so handlers must be idempotent.
   */
  start(handler: GateJobHandler): Promise<void>;
  close(): Promise<void>;
}
