import { z } from 'zod';

/**
 * The plan of a rollout: what is shipped, where, and how each stage is judged.
 * These schemas are part of the wire contract (the `start` command carries the stages),
 * so they live beside the messages and are versioned with them.
 */

/**
 * How long what people type may be: the plan's own limits and the envelope's (`rolloutId`). The
 * Slack surface checks each where it parses the input, so a person reads the limit, not a bug.
 */
export const INPUT_LIMITS = {
  /** Service and cluster names (a DNS label). */
  name: 63,
  version: 128,
  reason: 500,
  /** The envelope carries at most this many characters of rollout id. */
  rolloutId: 128,
} as const;

export const ClusterName = z
  .string()
  .regex(
    /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
    'a cluster name is lowercase letters, digits and dashes',
  );
export type ClusterName = z.infer<typeof ClusterName>;

export const ServiceName = z
  .string()
  .regex(
    /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
    'a service name is lowercase letters, digits and dashes',
  );
export type ServiceName = z.infer<typeof ServiceName>;

export const Strategy = z.enum(['canary', 'blue-green']);
export type Strategy = z.infer<typeof Strategy>;

export const GateMetric = z.enum(['error_rate', 'latency_p95', 'latency_p99']);
export type GateMetric = z.infer<typeof GateMetric>;

/**
 * One check of a gate. `absolute`: the canary's value must not exceed `max` (error rate as a
 * fraction 0..1, latency in milliseconds). `relative`: the canary's value must not exceed the
 * stable baseline times `max` (1.5 = at most 50% worse than stable).
 */
export const GateCheck = z.object({
  metric: GateMetric,
  mode: z.enum(['absolute', 'relative']),
  max: z.number().positive(),
});
export type GateCheck = z.infer<typeof GateCheck>;

/**
 * A sequential check (`mode: sequential` in the policy), judged on every health sample by
 * `shared/judge` rather than on the gate's timer: it counts events (errors of requests, or for a
 * latency metric the requests slower than `latencyBoundMs`) of canary and stable and rolls back
 * once the evidence that the canary's rate exceeds `maxRatio` × stable's reaches 1/`alpha`.
 */
export const SequentialCheck = z.object({
  metric: GateMetric,
  /** The false-alarm probability of a rollback, over the whole rollout (0 < α ≤ 0.2). */
  alpha: z.number().gt(0).max(0.2),
  /** Tolerance: the canary's event rate may be up to this many times stable's (≥ 1). */
  maxRatio: z.number().min(1),
  /** For latency metrics: a request slower than this (ms) is a slow request, the counted event. */
  latencyBoundMs: z.number().positive().optional(),
  /**
   * Early promotion: the stage may end before its bake once the evidence that the canary is no
   * worse than the tolerance reaches 1/`alpha` (a separate test), never before `minBakeMs`.
   */
  promoteEarly: z
    .object({ alpha: z.number().gt(0).max(0.2), minBakeMs: z.number().int().nonnegative() })
    .optional(),
});
export type SequentialCheck = z.infer<typeof SequentialCheck>;

export const ApprovalRule = z.object({
  /** Slack user ids (U…) or user group ids (S…) allowed to approve; empty means anyone. */
  approvers: z.array(z.string().min(1)),
  required: z.number().int().min(1).default(1),
  /** Four-eyes: when false, the person who started the rollout cannot approve it. */
  allowSelfApproval: z.boolean().default(false),
  /** Waiting this long reminds the approvers; absent in plans made before reminders. */
  remindAfterMs: z.number().int().positive().optional(),
  /** Waiting this long pages on-call (and aborts with `onTimeout: abort`). */
  escalateAfterMs: z.number().int().positive().optional(),
  onTimeout: z.enum(['wait', 'abort']).optional(),
});
export type ApprovalRule = z.infer<typeof ApprovalRule>;

/**
 * A webhook check (a smoke, conformance or load test): the agent of each cluster POSTs the
 * rollout's service, version, cluster, rolloutId and stage to `url` once per sampling round and
 * reports on its health samples whether the answer met `expect`. It judges a version without needing live traffic, which
 * is what lets a blue-green preview at weight 0 pass its gate.
 */
export const WebhookCheck = z.object({
  /** Names the check in gate results and alerts, e.g. `smoke`. */
  name: z.string().min(1).max(63),
  url: z
    .url({
      protocol: /^https?$/,
      error: 'an http:// or https:// URL, e.g. http://smoke.test/run',
    })
    // Credentials in a URL end up in results people read, and fetch refuses them anyway.
    .refine((url) => !/^[a-z]+:\/\/[^/]*@/i.test(url), {
      message:
        'a URL without a user or password in it (fetch refuses those; pass a token in a header the webhook reads, or in the path)',
    }),
  /** Each try is aborted after this many ms. */
  timeoutMs: z.number().int().positive().max(60_000),
  /** Tries after the first one when a try fails (a network error, a timeout, an unexpected answer). */
  retries: z.number().int().min(0).max(5),
  expect: z.object({
    /** The HTTP status that passes. */
    status: z.number().int().min(100).max(599),
    /**
     * Fields the JSON body must hold, by dotted path (`result.status`) to the exact value. With
     * this set, a body that is not JSON fails.
     */
    body: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).optional(),
  }),
});
export type WebhookCheck = z.infer<typeof WebhookCheck>;

export const Gate = z.object({
  checks: z.array(GateCheck),
  /** Checks judged on every sample by the sequential judge; absent in plans made before it. */
  sequential: z.array(SequentialCheck).optional(),
  /** Webhook checks run by the agents; absent in plans made before webhooks existed. */
  webhooks: z.array(WebhookCheck).optional(),
  /** Below this many canary requests in a cluster's window, an evaluation is inconclusive. */
  minRequests: z.number().int().nonnegative(),
  intervalMs: z.number().int().positive(),
  /** Consecutive failed evaluations that make the verdict `fail` (and roll back). */
  failureLimit: z.number().int().min(1),
  approval: ApprovalRule.optional(),
});
export type Gate = z.infer<typeof Gate>;

export const Stage = z.object({
  /** Percentage of traffic on the new version once this stage is applied. */
  weight: z.number().int().min(0).max(100),
  bakeMs: z.number().int().nonnegative(),
  gate: Gate,
});
export type Stage = z.infer<typeof Stage>;

/**
 * A consumer of the rolled-out service (`dependsOn` names it) that shares clusters with the
 * rollout: its stable traffic is watched while the canary runs and held to its own threshold
 * checks, so a provider that breaks its callers is rolled back even when its own metrics look
 * fine (see `judgeDependents`).
 */
export const DependentWatch = z.object({
  service: ServiceName,
  /** The rollout's clusters the consumer runs in: only their agents measure it. */
  clusters: z.array(ClusterName).min(1),
  /** The consumer's own absolute and relative checks (from its gate in the policy). */
  checks: z.array(GateCheck).min(1),
  /** Below this many requests in a window the consumer is too quiet to judge; it is skipped. */
  minRequests: z.number().int().nonnegative(),
});
export type DependentWatch = z.infer<typeof DependentWatch>;

export const RolloutPlan = z
  .object({
    service: ServiceName,
    version: z.string().min(1).max(INPUT_LIMITS.version),
    /** The version traffic returns to on rollback; what the clusters run before this rollout. */
    stableVersion: z.string().min(1).max(INPUT_LIMITS.version),
    /**
     * Set only when the clusters run different stable versions (an earlier rollout reached only
     * some of them): each cluster's own, which its rollback returns to. `stableVersionIn` reads it.
     */
    stableVersions: z.record(ClusterName, z.string().min(1).max(INPUT_LIMITS.version)).optional(),
    strategy: Strategy,
    /**
     * Blue-green only: the percentage of live requests the gateway mirrors (copies) to the preview
     * while it is judged at weight 0. Responses of mirrored requests are discarded.
     */
    mirrorPercent: z.number().int().min(1).max(100).optional(),
    /** Consumers watched while the canary runs; absent when none depends on the service. */
    dependents: z.array(DependentWatch).optional(),
    clusters: z.array(ClusterName).min(1),
    /**
     * The clusters in waves, first to last (each cluster in exactly one): the stages run in one
     * wave at a time. Absent: one wave of all clusters (a plan of one wave leaves it out).
     */
    waves: z.array(z.array(ClusterName).min(1)).min(1).optional(),
    stages: z.array(Stage).min(1),
    startedBy: z.string().min(1),
    reason: z.string().max(INPUT_LIMITS.reason).optional(),
    /** Set when this rollout is one service of a multi-service release. */
    releaseId: z.string().min(1).optional(),
    /**
     * A release member: after its last stage of its last wave it holds at 100% of the new version
     * (status `held`, service lock kept, its last stage's gate still judging it, still able to go
     * back to 0%) until the release promotes it
     * (`promote_held`), so no member becomes final while another can still fail.
     */
    holdBeforePromote: z.boolean().optional(),
    /**
     * A release member whose widening waits for a contract check (a provider's `before_widening`
     * can-i-deploy): once its first stage of its first wave passed, it holds there (status `held`,
     * still judged by that stage's gate) until the release lets it widen (`widen_held`) or sends it
     * back. A plan of one stage has nothing to widen to and never holds here.
     */
    holdBeforeWidening: z.boolean().optional(),
  })
  .superRefine((plan, ctx) => {
    for (const problem of planProblems(plan)) ctx.addIssue({ code: 'custom', ...problem });
  });
export type RolloutPlan = z.infer<typeof RolloutPlan>;

/**
 * The stable version, or each cluster's when they differ: `2.4.0`, or `2.5.0 in eu-west, 2.4.0
 * in us-east`. `inClusters` names the clusters for a single version too (`2.4.0 in eu-west, us-east`).
 */
export function stableVersionsLabel(plan: RolloutPlan, inClusters = false): string {
  if (plan.stableVersions === undefined) {
    return inClusters ? `${plan.stableVersion} in ${plan.clusters.join(', ')}` : plan.stableVersion;
  }
  return plan.clusters.map((c) => `${stableVersionIn(plan, c)} in ${c}`).join(', ');
}

/** The stable version of one cluster of the plan (see `RolloutPlan.stableVersions`). */
export function stableVersionIn(plan: RolloutPlan, cluster: string): string {
  return plan.stableVersions?.[cluster] ?? plan.stableVersion;
}

/** Stage rules a person can break when typing a plan; each message says what would be right. */
export function planProblems(plan: {
  strategy: Strategy;
  stages: { weight: number }[];
  clusters: string[];
  waves?: string[][] | undefined;
}): { path: (string | number)[]; message: string }[] {
  const problems: { path: (string | number)[]; message: string }[] = [];
  const weights = plan.stages.map((s) => s.weight);
  if (weights.at(-1) !== 100) {
    problems.push({
      path: ['stages'],
      message: `the last stage must be 100, got ${weights.join(',')}`,
    });
  }
  if (plan.strategy === 'canary') {
    weights.forEach((w, i) => {
      if (i > 0 && w <= weights[i - 1]!) {
        problems.push({
          path: ['stages', i, 'weight'],
          message: `canary stages must increase, got ${weights.join(',')} (for example 5,25,50,100)`,
        });
      }
      if (w === 0) {
        problems.push({
          path: ['stages', i, 'weight'],
          message: 'a canary stage weight must be above 0',
        });
      }
    });
  } else {
    if (weights.some((w) => w !== 0 && w !== 100)) {
      problems.push({
        path: ['stages'],
        message: `blue-green stages are 0 (preview) and 100 (switched), got ${weights.join(',')}`,
      });
    }
    weights.forEach((w, i) => {
      if (i > 0 && w < weights[i - 1]!) {
        problems.push({
          path: ['stages', i, 'weight'],
          message: 'stage weights must not decrease',
        });
      }
    });
  }
  if (new Set(plan.clusters).size !== plan.clusters.length) {
    problems.push({ path: ['clusters'], message: `clusters repeat: ${plan.clusters.join(',')}` });
  }
  if (plan.waves !== undefined) {
    const inWaves = plan.waves.flat();
    const same =
      inWaves.length === plan.clusters.length &&
      new Set(inWaves).size === inWaves.length &&
      inWaves.every((c) => plan.clusters.includes(c));
    if (!same) {
      problems.push({
        path: ['waves'],
        message: `the waves ${plan.waves.map((w) => `[${w.join(',')}]`).join(' ')} must hold each cluster (${plan.clusters.join(',')}) exactly once`,
      });
    }
  }
  return problems;
}
