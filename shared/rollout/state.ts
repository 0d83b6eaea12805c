import { z } from 'zod';
import { RolloutPlan } from './plan.js';
import type { CommandFailedPayload } from '../contracts/events.js';
import type { CommandBody } from '../contracts/commands.js';
import type { CountedInterval } from '../contracts/counted-interval.js';
import { Evidence } from '../judge/evidence.js';
import type { GateVerdict } from '../gate/verdict.js';

export const ACTIVE_STATUSES = [
  'pending',
  'progressing',
  'baking',
  'awaiting_approval',
  'paused',
  'promoting',
  'rolling_back',
  /** A release member at 100% of the new version everywhere, waiting for the release to promote it. */
  'held',
] as const;
/**
 * `failed` is no longer produced by `transition` (a failed rollback is retried, see transition.ts);
 * it stays so rollouts stored as failed by earlier versions still read as ended.
 */
export const TERMINAL_STATUSES = ['succeeded', 'rolled_back', 'aborted', 'failed'] as const;
export const RolloutStatus = z.enum([...ACTIVE_STATUSES, ...TERMINAL_STATUSES]);
export type RolloutStatus = z.infer<typeof RolloutStatus>;
/** The states `paused` can be entered from, and returns to on resume. */
export const PausableStatus = z.enum(['progressing', 'baking', 'awaiting_approval']);
export type PausableStatus = z.infer<typeof PausableStatus>;

export function isTerminal(status: RolloutStatus): boolean {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}

/**
 * The statuses in which the current stage's gate is evaluated every interval: a bake, and a
 * release member's hold at 100% (it is not final until the release promotes it, so a late
 * regression must still roll it back). The gate runner, the lost-tick sweep and the state machine
 * all ask this, so they cannot disagree about which ticks are awaited.
 */
export function isGateWatched(status: RolloutStatus): status is 'baking' | 'held' {
  return status === 'baking' || status === 'held';
}

export const ClusterStatus = z.enum([
  'pending',
  'applying',
  'applied',
  'promoting',
  'promoted',
  'rolling_back',
  'rolled_back',
  'failed',
]);
export type ClusterStatus = z.infer<typeof ClusterStatus>;

export const ClusterState = z.object({
  status: ClusterStatus,
  /** The canary weight the agent last confirmed (0 before the first stage and after rollback). */
  weight: z.number().int().min(0).max(100),
  /** Index of the last stage the agent confirmed, -1 before any. */
  appliedStage: z.number().int().min(-1),
  /** Why the cluster's last command failed, while that is what people should know about it. */
  failure: z.string().optional(),
  /**
   * Ids of this cluster's rollback commands whose failure was counted (the latest few), so a
   * redelivered `command_failed` is recognised and the rollback is not sent once more for it.
   */
  failedRollbacks: z.array(z.string()).optional(),
  /** Failed rollback attempts in this cluster so far: sets the retry backoff and re-pages. */
  rollbackAttempts: z.number().int().nonnegative().optional(),
});
export type ClusterState = z.infer<typeof ClusterState>;

export const RolloutState = z.object({
  id: z.string().min(1),
  /** Optimistic concurrency: increases by one with every accepted input. */
  version: z.number().int().nonnegative(),
  plan: RolloutPlan,
  status: RolloutStatus,
  stageIndex: z.number().int().nonnegative(),
  /**
   * The wave (`plan.waves`) whose clusters the stages run in now; absent means 0, and a plan of
   * one wave never sets it. Earlier waves stay at 100% of the new version until the promotion.
   */
  waveIndex: z.number().int().nonnegative().optional(),
  /** Sequence number of the last command sent for this rollout. */
  seq: z.number().int().nonnegative(),
  /**
   * The service's fencing number for this rollout (`ServiceLocks.nextFence`), carried by every
   * command it sends. Absent on rollouts stored before fencing: their commands carry 0.
   */
  fence: z.number().int().nonnegative().optional(),
  clusters: z.record(z.string(), ClusterState),
  pausedFrom: PausableStatus.optional(),
  /** When the current pause began, ms since epoch: how long the sweep says it has lasted. */
  pausedAt: z.number().optional(),
  /** Approvals collected for the current stage (Slack user ids). */
  approvals: z.array(z.string()),
  /** When the current stage's bake began (all clusters applied), ms since epoch. */
  bakeStartedAt: z.number().optional(),
  gate: z.object({
    /**
     * The gate tick last scheduled for the current stage (0 before the first); only a result for
     * exactly this tick is read, any other is stale. It restarts at 1 for each stage but keeps
     * counting across pause/resume within a stage: the scheduler runs each (rollout, stage, tick)
     * at most once, so a resumed bake that reused tick 1 would never be evaluated.
     */
    tick: z.number().int().nonnegative(),
    consecutiveFailures: z.number().int().nonnegative(),
    /** True once an inconclusive-past-bake alert was sent for this stage (alert once, not every tick). */
    heldAlerted: z.boolean(),
    lastVerdict: z.custom<GateVerdict>().optional(),
    /**
     * When `tick` was scheduled (ms since epoch): how the bot's sweep tells a lost evaluation (or
     * a lost rollback retry) from a slow one. `updatedAt` cannot: health counts move it every
     * few seconds. Absent on rollouts stored before it was kept.
     */
    scheduledAt: z.number().optional(),
    /** While rolling back with failed clusters: when the retry timer (`tick`) is due. */
    retryDueAt: z.number().optional(),
  }),
  /**
   * When the current approval episode began: the rollout came to wait for approval, an approval
   * short of the required number was given, or it was resumed while waiting. What approval
   * reminders and escalation count from (`updatedAt` moves with every health sample).
   */
  approvalRequestedAt: z.number().optional(),
  /** When the approvers were last reminded, and on-call paged, about a waiting approval. */
  approvalRemindedAt: z.number().optional(),
  approvalEscalatedAt: z.number().optional(),
  /**
   * The sequential judge's running evidence, for the whole rollout (the split may change between
   * stages): per check (`evidenceKey`), and per cluster the end of the last interval folded, so an
   * interval that overlaps one already counted is refused. Absent until the first counts.
   */
  judge: z
    .object({
      checks: z.record(z.string(), Evidence),
      countedUntil: z.record(z.string(), z.number()),
    })
    .optional(),
  /** Why it ended or is ending: the breached check, the abort reason, the failed command. */
  outcome: z.string().optional(),
  /**
   * Set when a rollback begins (or a rollout is aborted before it started): what caused it and,
   * for an abort, who. Decides the terminal status once every cluster has rolled back (`aborted`
   * for an abort, else `rolled_back`).
   */
  rollback: z
    .object({
      cause: z.enum(['gate_breached', 'command_failed', 'aborted']),
      actor: z.string().optional(),
    })
    .optional(),
  /**
   * Set when a person force-finished the rollback: who, and the reason as they typed it (kept
   * apart so every text that quotes it can show it literally).
   */
  forceFinished: z.object({ actor: z.string(), reason: z.string() }).optional(),
  createdAt: z.number(),
  updatedAt: z.number(),
});
export type RolloutState = z.infer<typeof RolloutState>;

/** Inputs to the state machine: user actions, agent events and gate results. */
export type RolloutInput =
  | { type: 'start'; actor: string }
  | { type: 'approve'; actor: string; /** user groups the actor belongs to */ groups?: string[] }
  | { type: 'pause'; actor: string }
  | { type: 'resume'; actor: string }
  | { type: 'abort'; actor: string; reason: string }
  /** The release promotes a member that holds (`plan.holdBeforePromote`). */
  | { type: 'promote_held'; actor: string }
  /** The release lets a member holding before its widening go on (`plan.holdBeforeWidening`). */
  | { type: 'widen_held'; actor: string }
  | { type: 'stage_applied'; cluster: string; stageIndex: number; weight: number }
  | { type: 'promoted'; cluster: string }
  | { type: 'rolled_back'; cluster: string }
  | ({ type: 'command_failed'; cluster: string } & CommandFailedPayload)
  | { type: 'gate_result'; stageIndex: number; tick: number; verdict: GateVerdict }
  /**
   * The evaluation `tick` of the stage never came (its job was lost: failed for good after
   * stalls, deleted): the bot's sweep asks for a new one. Stale unless it is still the awaited tick.
   */
  | { type: 'gate_lost'; stageIndex: number; tick: number }

  /** The bot's sweep saw an approval waiting past its limits (see approval-timeouts.ts). */
  | { type: 'approval_reminder' }
  | { type: 'approval_overdue' }
  /** The retry timer of failed rollbacks (`tick`) fired: send them again. */
  | { type: 'rollback_retry'; tick: number }
  /**
   * A person gives up on a rollback that cannot finish (a cluster that is gone): the rollout ends
   * `failed` with the clusters not rolled back named, and the service is released.
   */
  | { type: 'force_finish'; actor: string; reason: string }
  /** One cluster's interval counts from a health sample, for the sequential judge. */
  | { type: 'health_counts'; cluster: string; canary: CountedInterval; stable: CountedInterval };
export type RolloutInputType = RolloutInput['type'];

export type AlertKind =
  | 'gate_breached'
  | 'rolled_back'
  | 'rollback_failed'
  | 'gate_inconclusive'
  | 'approval_needed'
  /** Raised by the sweep: an approval has waited past `remindAfterMs` (thread only, no page). */
  | 'approval_reminder'
  /** Raised by the sweep: an approval has waited past `escalateAfterMs` (pages on-call). */
  | 'approval_overdue'
  | 'command_failed'
  /** Raised by the bot's periodic sweep (a rollout waiting on machines for too long), not by `transition`. */
  | 'rollout_stuck'
  /**
   * Raised by the sweep: a rollout paused for long, its canary serving live traffic with no gate
   * judging it and its service locked. Thread and channel; no page.
   */
  | 'rollout_paused';

/** Effects are plain data; the bot's effect runner carries them out after storing them. */
export type Effect =
  | {
      type: 'publish_command';
      cluster: string;
      seq: number;
      /** The rollout's fence (`RolloutState.fence`); absent for rollouts stored before fencing. */
      fence?: number;
      command: CommandBody;
    }
  | { type: 'schedule_gate'; stageIndex: number; tick: number; delayMs: number }
  | { type: 'cancel_gates' }
  | { type: 'update_card' }
  | { type: 'notify'; kind: AlertKind; message: string }
  | { type: 'release_lock'; service: string }
  /**
   * A release member moved (passed a stage in every wave, reached its hold, ended): what the
   * release coordinator is told, through the outbox, so a crash never loses it.
   */
  | { type: 'report_to_release'; releaseId: string; report: MemberReport };

/** What a member rollout tells its release (see `releaseTransition`'s member inputs). */
export type MemberReport =
  | { kind: 'progress'; passedWeight: number }
  | { kind: 'held' }
  /** It passed its first stage and holds there for its release's contract check. */
  | { kind: 'awaiting_widening' }
  | {
      kind: 'ended';
      status: 'succeeded' | 'rolled_back' | 'aborted' | 'failed';
      outcome?: string;
    };
export type EffectType = Effect['type'];

export type RejectionCode =
  | 'invalid_transition'
  | 'terminal'
  | 'stale_event'
  | 'unknown_cluster'
  | 'not_permitted'
  | 'four_eyes'
  | 'already_approved';

export type TransitionResult =
  | { ok: true; state: RolloutState; effects: Effect[] }
  | { ok: false; code: RejectionCode; reason: string };
