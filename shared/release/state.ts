import { z } from 'zod';
import type { BudgetSample, ErrorBudgetState } from './error-budget.js';
import { ReleasePlan } from './plan.js';

/**
 * A release as the coordinator keeps it: the plan, where each member's rollout is, and why it is
 * going back if it is. Stored like a rollout (optimistic `version`, outbox of effects).
 */

export const ReleaseStatus = z.enum([
  /** Created, `start` not applied yet. */
  'pending',
  /** Members start as the plan allows and run up to their hold (100% of the new version). */
  'running',
  /** No member starts; the running ones were told to pause. */
  'paused',
  /** Every member holds: they are promoted, providers before their consumers. */
  'promoting',
  /** A member failed (or a person aborted): members go back, consumers before providers. */
  'rolling_back',
  'succeeded',
  'rolled_back',
  'aborted',
]);
export type ReleaseStatus = z.infer<typeof ReleaseStatus>;

export const RELEASE_TERMINAL: readonly ReleaseStatus[] = ['succeeded', 'rolled_back', 'aborted'];

export function isReleaseTerminal(status: ReleaseStatus): boolean {
  return RELEASE_TERMINAL.includes(status);
}

export const MemberState = z.enum([
  /** Not started: waits for its providers or a free slot (`release.maxParallel`). */
  'waiting',
  /** `start_member` sent; its rollout is being created. */
  'starting',
  'running',
  /** Its rollout reached 100% of the new version in every wave and waits for the release. */
  'held',
  'promoting',
  'succeeded',
  /** `rollback_member` sent; waiting for its rollout to confirm weight 0 everywhere. */
  'rolling_back',
  /** Its rollout ended at weight 0 (rolled back or aborted). */
  'rolled_back',
  /** Never started: the release went back before its turn. */
  'cancelled',
]);
export type MemberState = z.infer<typeof MemberState>;

/** A member that ended: it can no longer move traffic (100% promoted, or 0%). */
export const MEMBER_ENDED: readonly MemberState[] = ['succeeded', 'rolled_back', 'cancelled'];

export const ReleaseMemberState = z.strictObject({
  state: MemberState,
  /** Deterministic (`memberRolloutId`): starting a member twice finds the rollout already there. */
  rolloutId: z.string().min(1),
  /** The highest stage weight its rollout passed in every wave (for `consumerStartsAt`). */
  passedWeight: z.number().int().min(0).max(100),
  startedAt: z.number().optional(),
  endedAt: z.number().optional(),
  /** How its rollout ended when it did not succeed: the breached check, the failed command. */
  outcome: z.string().optional(),
  /**
   * Holds after its first stage while its `before_widening` contract checks are asked
   * (`check_widening`); cleared when a yes lets it widen. A yes that comes while the release is
   * paused leaves it set, and the resume asks again.
   */
  awaitingWidening: z.literal(true).optional(),
});
export type ReleaseMemberState = z.infer<typeof ReleaseMemberState>;

export const ReleaseFailure = z.strictObject({
  /** The member whose failure started the rollback; absent for an abort of the whole release. */
  service: z.string().optional(),
  cause: z.enum(['member_failed', 'aborted', 'contract_refused', 'budget_exhausted']),
  /** What people read: the member's outcome, the abort reason as typed, the broker's answer. */
  detail: z.string(),
  actor: z.string().optional(),
  /** The members that go back (all of them under `rollback-all`), in plan order. */
  affected: z.array(z.string()),
});
export type ReleaseFailure = z.infer<typeof ReleaseFailure>;

/** One member's tally in one cluster (see `ClusterTally` in error-budget.ts). */
const ClusterTally = z.strictObject({
  canaryRequests: z.number().nonnegative(),
  canaryErrors: z.number().nonnegative(),
  expectedErrors: z.number().nonnegative(),
  pooledRequests: z.number().nonnegative(),
  stableRequests: z.number().nonnegative(),
  stableErrors: z.number().nonnegative(),
  windows: z.array(z.tuple([z.number(), z.number()])),
});

/** The release's failure budget as folded so far (`ErrorBudgetState`), stored with it. */
export const ReleaseErrorBudget = z.strictObject({
  budget: z.number().positive(),
  tallies: z.record(z.string(), z.record(z.string(), ClusterTally)),
}) satisfies z.ZodType<ErrorBudgetState>;

export const ReleaseState = z.strictObject({
  id: z.string().min(1),
  /** Optimistic concurrency: one more with every accepted input. */
  version: z.number().int().nonnegative(),
  plan: ReleasePlan,
  status: ReleaseStatus,
  /** By service; every member of the plan has one. */
  members: z.record(z.string(), ReleaseMemberState),
  startedBy: z.string().min(1),
  reason: z.string().optional(),
  failure: ReleaseFailure.optional(),
  /** Present when the plan has `release.errorBudget`: what the canaries spent of it. */
  errorBudget: ReleaseErrorBudget.optional(),
  createdAt: z.number(),
  updatedAt: z.number(),
  endedAt: z.number().optional(),
});
export type ReleaseState = z.infer<typeof ReleaseState>;

/**
 * A member's rollout id: derived from the release and the service, so a start replayed after a
 * crash finds the rollout it created the first time instead of starting the member twice.
 */
export function memberRolloutId(releaseId: string, service: string): string {
  return `${releaseId}-${service}`;
}

/** Inputs to the coordinator: people's actions and what the member rollouts report. */
export type ReleaseInput =
  | { type: 'start'; actor: string }
  | { type: 'pause'; actor: string }
  | { type: 'resume'; actor: string }
  | { type: 'abort'; actor: string; reason: string }
  /**
   * A contract check's answer for a member not started yet (Pact Broker `can-i-deploy`, see the
   * `start_member` effect), or for a running one before it widens (`check_widening`): `ok: false`
   * refuses it and the release goes back (before it moves, or from its first stage).
   */
  | { type: 'contract_verdict'; service: string; ok: boolean; detail: string }
  /**
   * Members' health windows for the failure budget (`release.errorBudget`), one batch of the
   * agent's at a time. Spending it all rolls the release back like a member failing.
   */
  | { type: 'budget_samples'; samples: BudgetSample[] }
  | { type: 'member_started'; service: string }
  | { type: 'member_progress'; service: string; passedWeight: number }
  | { type: 'member_held'; service: string }
  /**
   * A provider passed its first stage and holds there (`RolloutPlan.holdBeforeWidening`) until its
   * `before_widening` contract checks are asked again (`check_widening`).
   */
  | { type: 'member_awaiting_widening'; service: string }
  | {
      type: 'member_ended';
      service: string;
      status: 'succeeded' | 'rolled_back' | 'aborted' | 'failed';
      outcome?: string;
    };
export type ReleaseInputType = ReleaseInput['type'];

export type ReleaseEffect =
  /**
   * Create and start the member's rollout (id `rolloutId`, plan with `releaseId` and a hold
   * before promotion). Idempotent by id. Where a contract check (can-i-deploy) plugs in: the
   * runner may ask before creating the rollout and answer `contract_verdict` instead.
   */
  | { type: 'start_member'; service: string; rolloutId: string; version: string }
  | { type: 'promote_member'; service: string; rolloutId: string }
  /**
   * Ask the member's `before_widening` contract checks (can-i-deploy) again, now that it holds
   * after its first stage, and answer `contract_verdict` (a yes, or a no with the broker's reason);
   * no answer pages once and asks again, never passing it.
   */
  | { type: 'check_widening'; service: string; rolloutId: string }
  /** The member's checks said yes while the release runs: its rollout widens (`widen_held`). */
  | { type: 'widen_member'; service: string; rolloutId: string }
  | { type: 'rollback_member'; service: string; rolloutId: string; reason: string }
  | { type: 'pause_member'; service: string; rolloutId: string }
  | { type: 'resume_member'; service: string; rolloutId: string }
  /** A member that never started: its service lock, taken for the release at start, is freed. */
  | { type: 'release_member_lock'; service: string; rolloutId: string }
  | { type: 'release_card' }
  | { type: 'release_thread_line'; text: string }
  /** Pages the on-call groups of `services`, once, in the release thread. */
  | { type: 'page'; services: string[]; message: string };
export type ReleaseEffectType = ReleaseEffect['type'];

export type ReleaseRejectionCode = 'invalid_transition' | 'terminal' | 'unknown_member';

export type ReleaseTransitionResult =
  | { ok: true; state: ReleaseState; effects: ReleaseEffect[] }
  | { ok: false; code: ReleaseRejectionCode; reason: string };
