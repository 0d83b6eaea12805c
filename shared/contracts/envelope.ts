import { z } from 'zod';
import { INPUT_LIMITS } from '../rollout/plan.js';

/** The schema version this build writes. Readers accept every version listed in `SUPPORTED_VERSIONS`. */
export const SCHEMA_VERSION = 1;
export const SUPPORTED_VERSIONS = [1] as const;

/**
 * Fields every message carries. `id` is the idempotency key (a redelivered message has the same
 * id); `seq` increases per rollout so an agent can ignore anything not newer than what it applied.
 */
export const envelopeFields = {
  id: z.uuid(),
  v: z.literal(SCHEMA_VERSION),
  /**
   * Null only for messages about a cluster rather than a rollout (agent heartbeats). Room for the
   * bot's ids, `<service>-<6 hex>` with a service name of up to 63 characters, and then some.
   */
  rolloutId: z.string().min(1).max(INPUT_LIMITS.rolloutId).nullable(),
  cluster: z.string().min(1).max(63),
  seq: z.number().int().nonnegative(),
  at: z.iso.datetime(),
  /** Who caused it: `user:U123`, `agent:eu-west-1`, `system:gate`. */
  actor: z.string().min(1).max(200),
};

export const EnvelopeHeader = z.object({ ...envelopeFields, type: z.string().min(1) });
export type EnvelopeHeader = z.infer<typeof EnvelopeHeader>;

export function envelopeOf<T extends string, P extends z.ZodType>(type: T, payload: P) {
  return z.object({ ...envelopeFields, type: z.literal(type), payload });
}
