import { z } from 'zod';

/**
 * The policy file's `simulation` section: how the simulated clusters of local mode, demos and
 * tests behave (traffic, faults, seed). It lives in shared/ because the policy schema includes it;
 * the simulated drivers in agent/simulation/ act on it.
 *
 * A fault says where it applies (cluster, service, version or role, from which stage on) and what
 * goes wrong there. Faults come from configuration and can be injected or cleared at runtime.
 */

export const RouterOperation = z.enum(['setWeight', 'promote', 'rollback']);
export type RouterOperation = z.infer<typeof RouterOperation>;

export const Fault = z
  .strictObject({
    /** Only in this cluster; every cluster when absent (one fault list can serve many agents). */
    cluster: z.string().min(1).optional(),
    /** Only for this service; every service when absent. */
    service: z.string().min(1).optional(),
    /**
     * Only for this version. For router failures the version is the one being rolled out (the
     * target's canary version).
     */
    version: z.string().min(1).optional(),
    /** Only for this side of the split (metrics faults; router failures ignore it). */
    role: z.enum(['canary', 'stable']).optional(),
    /**
     * Only once the route has reached this stage index. The simulation counts stages itself (its
     * router sees no stage numbers): a rollout's first setWeight (the agent's `start`) is stage
     * -1, and each later setWeight with a newer seq is the next stage. A router failure from
     * stage i lets stages before i apply and rejects the call that would reach stage i.
     */
    fromStage: z.number().int().nonnegative().optional(),
    /**
     * The fault is caused by this service's new version, as a consumer's calls fail when they reach
     * a broken provider: its error rate and added latency are scaled by the share of that
     * service's traffic on its canary in the same cluster (nothing while it has none). For
     * `noTraffic` and `metricsUnavailable` any share at all turns them on.
     */
    viaCanaryOf: z.string().min(1).optional(),
    /** Extra error fraction (0..1) added to the base error rate. */
    errorRate: z.number().min(0).max(1).optional(),
    /** Milliseconds added to every latency percentile. */
    addedLatencyMs: z.number().nonnegative().optional(),
    /**
     * Router calls reject with `RouterError('injected_fault')`: every mutating call when true, or
     * only the listed operations.
     */
    routerFailure: z.union([z.boolean(), z.array(RouterOperation).min(1)]).optional(),
    /** The version receives no requests at all. */
    noTraffic: z.boolean().optional(),
    /** The metrics backend cannot answer: `measure` resolves `unavailable`. */
    metricsUnavailable: z.boolean().optional(),
  })
  .refine(
    (f) =>
      f.errorRate !== undefined ||
      f.addedLatencyMs !== undefined ||
      f.routerFailure !== undefined ||
      f.noTraffic !== undefined ||
      f.metricsUnavailable !== undefined,
    {
      message:
        'a fault needs at least one of errorRate, addedLatencyMs, routerFailure, noTraffic, metricsUnavailable',
    },
  );
export type Fault = z.infer<typeof Fault>;

/** How a simulated service behaves when nothing is wrong. Every field has a default. */
export const TrafficProfile = z.strictObject({
  /** Requests per second reaching the service (both versions together). Default 200. */
  requestsPerSecond: z.number().nonnegative(),
  /** Fraction of requests that fail on a healthy version. Default 0.002 (0.2%). */
  baseErrorRate: z.number().min(0).max(1),
  /** Latency percentiles of a healthy version, in ms. Default 40 / 110 / 220. */
  latencyMs: z
    .strictObject({
      p50: z.number().nonnegative(),
      p95: z.number().nonnegative(),
      p99: z.number().nonnegative(),
    })
    .refine((l) => l.p50 <= l.p95 && l.p95 <= l.p99, { message: 'expected p50 ≤ p95 ≤ p99' }),
  /**
   * Relative standard deviation of each percentile for a window of 100 requests; larger windows
   * are steadier (the noise shrinks with the square root of the request count). Default 0.05.
   */
  latencyJitter: z.number().min(0).max(1),
});
export type TrafficProfile = z.infer<typeof TrafficProfile>;

/**
 * The part of a simulated cluster that configuration sets (the policy file's simulation
 * section): traffic, faults and seed. Validate it with this schema before passing it on.
 */
export const SimulationSettings = z.strictObject({
  seed: z.number().int().optional(),
  traffic: TrafficProfile.partial().optional(),
  faults: z.array(Fault).optional(),
});
export type SimulationSettings = z.infer<typeof SimulationSettings>;
