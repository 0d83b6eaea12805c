import { z } from 'zod';
import { envelopeOf } from './envelope.js';
import { COMMAND_TYPES } from './commands.js';
import { CountedInterval } from './counted-interval.js';
import { INPUT_LIMITS } from '../rollout/plan.js';

/**
 * Events flow agent → bot on `rollout.events`, health sample batches on `rollout.health`; names
 * are past tense.
 */

export const StageAppliedPayload = z.object({
  stageIndex: z.number().int().nonnegative(),
  weight: z.number().int().min(0).max(100),
});
export type StageAppliedPayload = z.infer<typeof StageAppliedPayload>;

/**
 * What a metrics provider measured for one version over a window. A provider that could not
 * measure says so (`unavailable`) instead of reporting zeros, so a gate never passes on no data.
 */
export const Measurement = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('ok'),
    requests: z.number().int().nonnegative(),
    errors: z.number().int().nonnegative(),
    latencyMs: z.object({
      p50: z.number().nonnegative(),
      p95: z.number().nonnegative(),
      p99: z.number().nonnegative(),
    }),
    /** Non-overlapping counts for the sequential judge; absent from providers that cannot count. */
    counts: CountedInterval.optional(),
  }),
  z.object({ status: z.literal('unavailable'), reason: z.string().min(1) }),
]);
export type Measurement = z.infer<typeof Measurement>;

/** The outcome of one webhook check (`Gate.webhooks`) as the agent ran it for a sample. */
export const WebhookResult = z.object({
  name: z.string().min(1),
  passed: z.boolean(),
  /** What was seen: `200 in 35ms`, or why it failed (`status 500, expected 200`, `timed out after 2000ms`). */
  detail: z.string().min(1),
  /** Tries made, the first included. */
  attempts: z.number().int().min(1),
});
export type WebhookResult = z.infer<typeof WebhookResult>;

/**
 * A consumer's stable traffic in the sample's window (`StartPayload.dependents`). `baseline` is
 * its first measurement in this rollout, taken by the agent at the rollout's first sample, for
 * relative checks; absent after an agent restart, when only absolute checks can judge it.
 * `changing` says the consumer is itself mid-rollout here: a change of its own could explain
 * its health, so nothing is attributed to the provider.
 */
export const DependentSample = z.object({
  service: z.string().min(1),
  version: z.string().min(1),
  measurement: Measurement,
  baseline: Measurement.optional(),
  changing: z.boolean().optional(),
});
export type DependentSample = z.infer<typeof DependentSample>;

export const HealthSamplePayload = z.object({
  stageIndex: z.number().int().nonnegative(),
  windowMs: z.number().int().positive(),
  canary: Measurement,
  stable: Measurement,
  /** The stage gate's webhook checks, run for this sample; absent when the gate has none. */
  webhooks: z.array(WebhookResult).optional(),
  /** The rollout's consumers in this cluster (see `DependentSample`); absent when none are watched. */
  dependents: z.array(DependentSample).max(100).optional(),
});
export type HealthSamplePayload = z.infer<typeof HealthSamplePayload>;

/**
 * Most samples one `health_samples` message carries; an agent with more active rollouts sends
 * several messages (and also splits by size, see `shared/messaging/health-batches.ts`).
 */
export const MAX_SAMPLES_PER_BATCH = 200;

/** One rollout's sample inside a batch: the single-sample payload plus whose it is and when. */
export const BatchedHealthSample = HealthSamplePayload.extend({
  rolloutId: z.string().min(1).max(INPUT_LIMITS.rolloutId),
  /** When this sample's window ended (the agent's clock), as the envelope `at` of a single sample. */
  at: z.iso.datetime(),
});
export type BatchedHealthSample = z.infer<typeof BatchedHealthSample>;

/** Every sample one agent took in one interval (or a share of them, when split). */
export const HealthSamplesPayload = z.object({
  samples: z.array(BatchedHealthSample).min(1).max(MAX_SAMPLES_PER_BATCH),
});
export type HealthSamplesPayload = z.infer<typeof HealthSamplesPayload>;

export const PromotedPayload = z.object({ version: z.string().min(1) });
export const RolledBackPayload = z.object({ weight: z.literal(0), reason: z.string().min(1) });
export const CommandFailedPayload = z.object({
  commandId: z.uuid(),
  commandType: z.enum(COMMAND_TYPES as [string, ...string[]]),
  reason: z.string().min(1),
});
export type CommandFailedPayload = z.infer<typeof CommandFailedPayload>;
export const AgentHeartbeatPayload = z.object({
  agentId: z.string().min(1),
  activeRollouts: z.array(z.string()),
});

export const StageAppliedEvent = envelopeOf('stage_applied', StageAppliedPayload);
/** Kept for agents older than batches: the bot still ingests it on `rollout.events`. */
export const HealthSampleEvent = envelopeOf('health_sample', HealthSamplePayload);
/** `rolloutId` is null: a batch is about a cluster; each sample names its rollout. */
export const HealthSamplesEvent = envelopeOf('health_samples', HealthSamplesPayload);
export type HealthSamplesEvent = z.infer<typeof HealthSamplesEvent>;
export const PromotedEvent = envelopeOf('promoted', PromotedPayload);
export const RolledBackEvent = envelopeOf('rolled_back', RolledBackPayload);
export const CommandFailedEvent = envelopeOf('command_failed', CommandFailedPayload);
export const AgentHeartbeatEvent = envelopeOf('agent_heartbeat', AgentHeartbeatPayload);

export const RolloutEvent = z.discriminatedUnion('type', [
  StageAppliedEvent,
  HealthSampleEvent,
  HealthSamplesEvent,
  PromotedEvent,
  RolledBackEvent,
  CommandFailedEvent,
  AgentHeartbeatEvent,
]);
export type RolloutEvent = z.infer<typeof RolloutEvent>;
export type RolloutEventType = RolloutEvent['type'];
