import { z } from 'zod';
import { Contracts, contractProblems, PactPolicy } from './contract-policy.js';
import { DependsOn, dependencyProblems } from './dependencies.js';
import { Duration } from './duration.js';
import { PolicyGateCheck } from './gate-check-policy.js';
import { ServicePagerDuty } from './pagerduty.js';
import { PrometheusSettings, ServicePromQueries } from './prometheus-queries.js';
import { ReleasePolicy } from './release-policy.js';
import { ServiceRouting } from './routing.js';
import { SimulationSettings } from './simulation.js';
import { waveProblems, Waves } from './waves.js';
import { ClusterName, WebhookCheck, planProblems, ServiceName, Strategy } from '../rollout/plan.js';

/**
 * The policy file (`ROLLOUT_CONFIG`): which services may be rolled out, where, how, and by whom.
 * Durations are written as text (`30s`, `5m`); stages as canary weights in percent.
 */

const SlackId = z
  .string()
  .regex(/^[UWS][A-Z0-9]{2,}$/, 'a Slack user id (U…/W…) or user group id (S…)');

/**
 * `gate.webhooks[]`: a smoke, conformance or load test the agent calls in each cluster once per
 * sampling round (see `WebhookCheck`). The answer passes when its status is `expect.status` and its
 * JSON body holds every `expect.body` field.
 */
export const WebhookPolicy = z.strictObject({
  name: WebhookCheck.shape.name,
  url: WebhookCheck.shape.url,
  /** Each try is aborted after this long. Default 10s, at most 60s. */
  timeout: Duration.pipe(z.number().int().positive().max(60_000, 'at most 60s')).default(10_000),
  /** Tries after the first one when a try fails. Default 2, at most 5. */
  retries: WebhookCheck.shape.retries.default(2),
  expect: z
    .strictObject({
      status: WebhookCheck.shape.expect.shape.status.default(200),
      body: WebhookCheck.shape.expect.shape.body,
    })
    .default({ status: 200 }),
});
export type WebhookPolicy = z.infer<typeof WebhookPolicy>;

const Webhooks = z
  .array(WebhookPolicy)
  .refine((hooks) => new Set(hooks.map((h) => h.name)).size === hooks.length, {
    message: 'webhook names must differ: results and alerts name a check by it',
  });

export const GatePolicy = z.strictObject({
  checks: z.array(PolicyGateCheck).default([]),
  webhooks: Webhooks.default([]),
  minRequests: z.number().int().nonnegative().default(100),
  interval: Duration.default(30_000),
  failureLimit: z.number().int().min(1).default(2),
});
export type GatePolicy = z.infer<typeof GatePolicy>;

/**
 * `blueGreen`: how a blue-green preview (the new version at weight 0) gets traffic to be judged.
 * Without a mirror its gate has only webhooks to go by.
 */
export const BlueGreenPolicy = z.strictObject({
  /**
   * Percentage of live requests the gateway copies to the preview while it is judged (a Gateway
   * API `RequestMirror` filter; the simulation mirrors likewise). Copies: the stable version
   * still answers every request. Unset: no mirror.
   */
  mirrorPercent: z.number().int().min(1).max(100).optional(),
});
export type BlueGreenPolicy = z.infer<typeof BlueGreenPolicy>;

const StageWeights = z.array(z.number().int().min(0).max(100)).min(1);

export const Permissions = z.strictObject({
  /**
   * Who may start, approve and abort (user ids U…, or user groups S…); an empty list means
   * anyone in the workspace, and for approvals anyone but the starter under four-eyes.
   */
  start: z.array(SlackId).default([]),
  approve: z.array(SlackId).default([]),
  abort: z.array(SlackId).default([]),
  /** Forbid the person who started a rollout from approving it. */
  fourEyes: z.boolean().default(true),
  approvalsRequired: z.number().int().min(1).default(1),
  /**
   * An approval waiting this long reminds the approvers in the card's thread; after
   * `approvalEscalateAfter` (default twice this) it pages on-call, and with
   * `approvalTimeoutAction: abort` the rollout is then aborted. Default 1 hour.
   */
  approvalTimeout: Duration.pipe(z.number().int().positive()).default(3_600_000),
  approvalEscalateAfter: Duration.pipe(z.number().int().positive()).optional(),
  approvalTimeoutAction: z.enum(['wait', 'abort']).default('wait'),
  /**
   * Take `/rollout start` and actions on the service's rollouts only in its own channel (never
   * in a DM or another channel), where the team sees them. Reading (status, list, history) works
   * anywhere.
   */
  channelOnly: z.boolean().default(true),
});
export type Permissions = z.infer<typeof Permissions>;

/**
 * What a person starting a rollout may loosen with flags. By default nothing: flags may only make
 * a rollout more careful (more stages, a longer bake, more approval points, the same clusters).
 */
export const Overrides = z.strictObject({
  /** Stages without some of the policy's weights (`--stages 50,100`). */
  stages: z.boolean().default(false),
  /** A bake shorter than the policy's (`--bake 0s`). */
  bake: z.boolean().default(false),
  /** Approval points the policy requires moved or left out (`--approve-at`). */
  approveAt: z.boolean().default(false),
  /** Some of the service's clusters only (`--clusters eu-west`): a partial rollout. */
  clusters: z.boolean().default(false),
  /** Another strategy than the policy's (`--strategy`). */
  strategy: z.boolean().default(false),
});
export type Overrides = z.infer<typeof Overrides>;

export const ServiceDefaults = z.strictObject({
  strategy: Strategy.default('canary'),
  stages: StageWeights.default([5, 25, 50, 100]),
  bake: Duration.default(300_000),
  gate: GatePolicy.default(GatePolicy.parse({})),
  /** Stage weights after whose bake a person must approve before the rollout goes on. */
  approveAt: z.array(z.number().int().min(0).max(100)).default([]),
  blueGreen: BlueGreenPolicy.default({}),
  overrides: Overrides.default(Overrides.parse({})),
  /** Cluster waves of the fleet (see waves.ts); absent: one wave of each service's clusters. */
  waves: Waves.optional(),
});

export const ServicePolicy = z.strictObject({
  channel: z.string().regex(/^[CG][A-Z0-9]{2,}$/, 'a Slack channel id (C…)'),
  /** The user group mentioned on alerts, e.g. S0123ONCALL. */
  oncall: SlackId.optional(),
  clusters: z.array(ClusterName).min(1),
  /**
   * The version running before the bot's first rollout of the service: what that rollout returns
   * to. The file is never written back; once a rollout of the service has succeeded, the next one
   * plans with that rollout's version as stable instead (`RolloutService.start`).
   */
  stableVersion: z.string().min(1).default('unknown'),
  strategy: Strategy.optional(),
  stages: StageWeights.optional(),
  bake: Duration.optional(),
  // Not `GatePolicy.partial()`: that keeps the field defaults, so a service setting only its
  // checks got interval 30s and minRequests 100 instead of the policy's `defaults.gate`.
  gate: z
    .strictObject({
      checks: GatePolicy.shape.checks.unwrap().optional(),
      webhooks: GatePolicy.shape.webhooks.unwrap().optional(),
      minRequests: GatePolicy.shape.minRequests.unwrap().optional(),
      interval: GatePolicy.shape.interval.unwrap().optional(),
      failureLimit: GatePolicy.shape.failureLimit.unwrap().optional(),
    })
    .optional(),
  approveAt: z.array(z.number().int().min(0).max(100)).optional(),
  /** Overrides `defaults.blueGreen` as a whole. */
  blueGreen: BlueGreenPolicy.optional(),
  permissions: Permissions.default(Permissions.parse({})),
  /** What a starter may loosen with flags (see `Overrides`); absent: `defaults.overrides`. */
  overrides: Overrides.optional(),
  /** Where the `gateway-api` router finds the service's HTTPRoute (required with that router). */
  routing: ServiceRouting.optional(),
  /** PromQL templates for this service, overriding `prometheus.queries` field by field. */
  prometheus: ServicePromQueries.optional(),
  /** Pages on-call through PagerDuty (see pager-routing.ts); else `PAGERDUTY_ROUTING_KEY` if set. */
  pagerduty: ServicePagerDuty.optional(),
  /** The services this one depends on: a release rolls them out first (see dependencies.ts). */
  dependsOn: DependsOn.optional(),
  /** Which of its `dependsOn` edges a release checks with the Pact Broker (see contract-policy.ts). */
  contracts: Contracts.optional(),
  /** This service's cluster waves, first to last (see waves.ts); absent: `defaults.waves`. */
  waves: Waves.optional(),
});
export type ServicePolicy = z.infer<typeof ServicePolicy>;

export const ClusterPolicy = z.strictObject({
  description: z.string().optional(),
});

/** How long what a rollout leaves in Redis is kept (see the README's retention notes). */
export const RetentionPolicy = z.strictObject({
  /**
   * A finished rollout's record and history (its audit trail) are kept this long after it ended,
   * then expire. What each cluster runs (the last succeeded version) is kept regardless.
   */
  finishedRollouts: Duration.pipe(z.number().int().positive()).default(30 * 86_400_000),
  /**
   * Health samples are kept this long after the last one arrived: a finished rollout's go about
   * this long after its agents stopped sampling it. Older samples are never judged anyway.
   */
  samples: Duration.pipe(z.number().int().positive()).default(3_600_000),
});
export type RetentionPolicy = z.infer<typeof RetentionPolicy>;

export const Policy = z
  .object({
    clusters: z.record(ClusterName, ClusterPolicy.default({})),
    defaults: ServiceDefaults.default(ServiceDefaults.parse({})),
    services: z.record(ServiceName, ServicePolicy),
    /** How simulated clusters behave (local mode, demos, tests); ignored by real drivers. */
    simulation: SimulationSettings.optional(),
    /** The `prometheus` metrics provider's queries and limits; ignored by other providers. */
    prometheus: PrometheusSettings.optional(),
    /** How multi-service releases run (see release-policy.ts). */
    release: ReleasePolicy.default(ReleasePolicy.parse({})),
    /** The Pact Broker environment and names that contract checks ask about (see contract-policy.ts). */
    pact: PactPolicy.optional(),
    retention: RetentionPolicy.default(RetentionPolicy.parse({})),
  })
  .superRefine((policy, ctx) => {
    for (const problem of [
      ...dependencyProblems(policy.services),
      ...waveProblems(policy),
      ...contractProblems(policy),
    ]) {
      ctx.addIssue({ code: 'custom', ...problem });
    }
    for (const [name, service] of Object.entries(policy.services)) {
      service.clusters.forEach((cluster, i) => {
        if (!(cluster in policy.clusters)) {
          ctx.addIssue({
            code: 'custom',
            path: ['services', name, 'clusters', i],
            message: `unknown cluster "${cluster}" (declared: ${Object.keys(policy.clusters).join(', ') || 'none'})`,
          });
        }
      });
      const strategy = service.strategy ?? policy.defaults.strategy;
      const weights = service.stages ?? policy.defaults.stages;
      const stages = weights.map((weight) => ({ weight }));
      for (const problem of planProblems({ strategy, stages, clusters: service.clusters })) {
        ctx.addIssue({
          code: 'custom',
          path: ['services', name, 'stages'],
          message: problem.message,
        });
      }
      if (strategy === 'blue-green') {
        const problem = blindPreview(name, service, policy.defaults);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', ...problem });
      }
      const { approve, approvalsRequired } = service.permissions;
      const users = approve.filter((id) => id.startsWith('U') || id.startsWith('W'));
      // With user groups in the list, who can approve is only known at approval time.
      if (
        approve.length > 0 &&
        users.length === approve.length &&
        approvalsRequired > users.length
      ) {
        ctx.addIssue({
          code: 'custom',
          path: ['services', name, 'permissions', 'approvalsRequired'],
          message: `${approvalsRequired} approvals required but only ${users.length} approver(s) listed (${users.join(', ')}): nobody could ever approve enough; lower it or list more approvers`,
        });
      }
      const { approvalTimeout, approvalEscalateAfter } = service.permissions;
      if (approvalEscalateAfter !== undefined && approvalEscalateAfter <= approvalTimeout) {
        ctx.addIssue({
          code: 'custom',
          path: ['services', name, 'permissions', 'approvalEscalateAfter'],
          message: `must be longer than approvalTimeout (${approvalTimeout} ms): people are reminded first, then on-call is paged`,
        });
      }
      for (const weight of service.approveAt ?? policy.defaults.approveAt) {
        if (!weights.includes(weight)) {
          ctx.addIssue({
            code: 'custom',
            path: ['services', name, 'approveAt'],
            message: `approveAt ${weight} is not one of the stages ${weights.join(',')}`,
          });
        }
      }
    }
  });
export type Policy = z.infer<typeof Policy>;

/**
 * A blue-green preview runs at weight 0: no live request reaches it, so a gate that needs traffic
 * (every gate: zero requests is never enough evidence) stays inconclusive forever unless the
 * preview gets mirrored traffic or webhook checks judge it. Such a service is refused here, at
 * load, naming the field to set, rather than discovered when its first rollout hangs.
 */
function blindPreview(
  name: string,
  service: ServicePolicy,
  defaults: z.infer<typeof ServiceDefaults>,
): { path: string[]; message: string } | undefined {
  const mirror = (service.blueGreen ?? defaults.blueGreen).mirrorPercent;
  const webhooks = service.gate?.webhooks ?? defaults.gate.webhooks;
  if (mirror !== undefined || webhooks.length > 0) return undefined;
  const checks = service.gate?.checks ?? defaults.gate.checks;
  const judged =
    checks.length > 0
      ? `its gate's traffic checks (${checks.map((c) => c.metric).join(', ')})`
      : 'its gate (it needs canary requests)';
  return {
    path: ['services', name, 'blueGreen', 'mirrorPercent'],
    message:
      `blue-green judges the preview at weight 0, where no live traffic reaches it, so ${judged} can never pass: ` +
      `set services.${name}.blueGreen.mirrorPercent (mirror a share of live requests to the preview) ` +
      `or add services.${name}.gate.webhooks (a smoke or load test that judges the preview)`,
  };
}
