import { z } from 'zod';

/**
 * The top-level `release:` section: how several services' rollouts run as one release
 * (`/rollout start payments@2.0.0 checkout@3.1.0`). Top level rather than under `defaults`,
 * because a release spans services: no one service's policy could own these settings.
 */
export const ReleasePolicy = z.strictObject({
  /** At most this many member rollouts run at once; the others queue (never refused). */
  maxParallel: z.number().int().min(1).default(2),
  /**
   * A consumer starts once each of its providers in the release has passed its stage of at least
   * this weight in every wave (e.g. 50); absent: once each provider's rollout has finished.
   */
  consumerStartsAt: z.number().int().min(1).max(100).optional(),
  /**
   * When a member fails: `rollback-all` rolls every member back (consumers before providers);
   * `rollback-dependents` only the failed member and the members it depends on or that depend on it.
   */
  onFailure: z.enum(['rollback-all', 'rollback-dependents']).default('rollback-all'),
  /**
   * Extra errors (requests) the canaries may serve across all members, beyond what each stable
   * version's error rate predicts for the same requests; spending it all rolls the release back.
   * Absent: no release-wide budget, only each member's own gates.
   */
  errorBudget: z.number().int().positive().optional(),
});
export type ReleasePolicy = z.infer<typeof ReleasePolicy>;
