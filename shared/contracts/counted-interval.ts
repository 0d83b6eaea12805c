import { z } from 'zod';

/**
 * Counter increments of one version over one interval (fromMs, toMs], for the sequential judge:
 * requests, errors, and requests slower than each asked bound (from histogram buckets). Unlike a
 * measurement's windowed rates, successive intervals of a version never overlap, so the bot can
 * add them up; it folds an interval only if it starts at or after the end of the last one.
 */
export const CountedInterval = z
  .object({
    fromMs: z.number().int().nonnegative(),
    toMs: z.number().int().nonnegative(),
    requests: z.number().int().nonnegative(),
    errors: z.number().int().nonnegative(),
    slow: z
      .array(z.object({ boundMs: z.number().positive(), count: z.number().int().nonnegative() }))
      .optional(),
  })
  .refine((c) => c.toMs >= c.fromMs, {
    message: 'toMs must not be before fromMs (an interval runs forward)',
    path: ['toMs'],
  });
export type CountedInterval = z.infer<typeof CountedInterval>;
