import { z } from 'zod';
import { envelopeFields } from '../contracts/envelope.js';
import {
  BatchedHealthSample,
  MAX_SAMPLES_PER_BATCH,
  type HealthSamplesEvent,
} from '../contracts/events.js';

/**
 * Bytes of sample JSON one message carries at most: well under Kafka's default 1 MB
 * `message.max.bytes`, with room for the envelope.
 */
export const MAX_BATCH_BYTES = 500_000;

/**
 * Splits one interval's samples into batches of at most `maxCount` samples and about `maxBytes`
 * of JSON each, in order. A single sample larger than `maxBytes` goes alone (the broker decides
 * whether it fits). Pure: the agent wraps each batch in its own envelope.
 */
export function splitSamples<S>(
  samples: readonly S[],
  limits: { maxCount?: number; maxBytes?: number } = {},
): S[][] {
  const maxCount = limits.maxCount ?? MAX_SAMPLES_PER_BATCH;
  const maxBytes = limits.maxBytes ?? MAX_BATCH_BYTES;
  const batches: S[][] = [];
  let current: S[] = [];
  let bytes = 0;
  for (const sample of samples) {
    // +1 for the comma between array items.
    const size = Buffer.byteLength(JSON.stringify(sample)) + 1;
    if (current.length > 0 && (current.length >= maxCount || bytes + size > maxBytes)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(sample);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/**
 * What the bot decodes on `rollout.health`: the envelope checked strictly, the samples only as a
 * bounded array, so one malformed sample does not cost the others (`salvageSamples`). A batch
 * whose envelope is wrong, or whose array is empty or too long, fails here and is dead-lettered.
 */
export const HealthSamplesWire = z.object({
  ...envelopeFields,
  type: z.literal('health_samples'),
  payload: z.object({ samples: z.array(z.unknown()).min(1).max(MAX_SAMPLES_PER_BATCH) }),
});
export type HealthSamplesWire = z.infer<typeof HealthSamplesWire>;

/**
 * The valid samples of a batch, as a strict `health_samples` event (undefined when none is
 * valid), and why each other one was refused (`sample 3 (rollout checkout-1a2b3c): …`).
 */
export function salvageSamples(wire: HealthSamplesWire): {
  event: HealthSamplesEvent | undefined;
  refused: string[];
} {
  const valid: BatchedHealthSample[] = [];
  const refused: string[] = [];
  wire.payload.samples.forEach((raw, index) => {
    const parsed = BatchedHealthSample.safeParse(raw);
    if (parsed.success) {
      valid.push(parsed.data);
      return;
    }
    const rolloutId = (raw as { rolloutId?: unknown } | null)?.rolloutId;
    const whose = typeof rolloutId === 'string' ? ` (rollout ${rolloutId.slice(0, 80)})` : '';
    refused.push(`sample ${index}${whose}: ${z.prettifyError(parsed.error)}`);
  });
  const event = valid.length === 0 ? undefined : { ...wire, payload: { samples: valid } };
  return { event, refused };
}
