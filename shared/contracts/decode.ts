import { z } from 'zod';
import { EnvelopeHeader, SUPPORTED_VERSIONS } from './envelope.js';

export type Decoded<T> = { ok: true; message: T } | { ok: false; reason: string };

/**
 * Turns raw bytes into a validated message, or a reason a person can act on. Never throws:
 * a consumer that threw on a bad message would be restarted on it forever.
 */
export function decodeMessage<S extends z.ZodDiscriminatedUnion>(
  schema: S,
  raw: Buffer | string | null,
): Decoded<z.infer<S>> {
  if (raw === null) return { ok: false, reason: 'empty message (no value)' };
  let json: unknown;
  try {
    json = JSON.parse(raw.toString());
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  const header = z.object({ v: z.unknown(), type: z.unknown() }).safeParse(json);
  if (!header.success) return { ok: false, reason: 'not an envelope: expected a JSON object' };
  const { v, type } = header.data;
  if (!SUPPORTED_VERSIONS.includes(v as never)) {
    return {
      ok: false,
      reason: `unsupported schema version v=${JSON.stringify(v)} (this build reads ${SUPPORTED_VERSIONS.join(', ')})`,
    };
  }
  const known = schema.options.map((o) => (o as z.ZodObject).shape.type as z.ZodLiteral);
  const types = known.map((t) => String(t.value));
  if (typeof type !== 'string' || !types.includes(type)) {
    return {
      ok: false,
      reason: `unknown message type ${JSON.stringify(type)} (expected one of ${types.join(', ')})`,
    };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    return { ok: false, reason: `invalid ${type} message: ${z.prettifyError(parsed.error)}` };
  }
  return { ok: true, message: parsed.data };
}

/** What a dead letter on `rollout.dlq` says: the reason, where it came from, and the bytes. */
export const DeadLetter = z.object({
  reason: z.string(),
  origin: z.object({
    topic: z.string(),
    partition: z.number().int(),
    offset: z.string(),
    key: z.string().nullable(),
  }),
  /** The original value as text (UTF-8), so nothing is lost. */
  value: z.string().nullable(),
  at: z.iso.datetime(),
});
export type DeadLetter = z.infer<typeof DeadLetter>;

export { EnvelopeHeader };
