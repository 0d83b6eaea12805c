import { RolloutError } from '../errors.js';
import {
  planProblems,
  RolloutPlan,
  type DependentWatch,
  type Gate,
  type Stage,
  type Strategy,
} from '../rollout/plan.js';
import { formatDuration } from './duration.js';
import { nearestNames } from './nearest-names.js';
import { planChecks } from './gate-check-policy.js';
import { wavesOf } from './waves.js';
import { consumersOf } from './dependencies.js';
import type { GatePolicy, Policy, ServicePolicy } from './policy.js';

// Moved to its own file so the policy schema can suggest names without an import cycle.
export { nearestNames };

/** What a person asks for; everything left out comes from the service's policy. */
export interface RolloutRequest {
  service: string;
  version: string;
  startedBy: string;
  reason?: string;
  clusters?: string[];
  strategy?: Strategy;
  stages?: number[];
  bakeMs?: number;
  approveAt?: number[];
  /** Going back to a version older than the stable one is refused unless this is set. */
  allowDowngrade?: boolean;
}

export class PlanError extends RolloutError {
  constructor(
    code: 'unknown_service' | 'unknown_cluster' | 'invalid_plan' | 'override_refused',
    message: string,
    readonly suggestions: string[] = [],
  ) {
    super(code, message);
  }
}

/** What a version looks like (2.4.1, v2.4.1, 2.4.1-rc.1); releases check each member with it. */
export const VERSION = /^v?\d+(\.\d+){0,2}([-+][0-9A-Za-z.-]+)?$/;

/** Facts about the service that the policy file cannot know. */
export interface PlanContext {
  /**
   * The version the service runs now, as the bot knows it: the version of its last succeeded
   * rollout. Absent before the first one; the policy's `stableVersion` applies then.
   */
  stableVersion?: string;
  /**
   * The version each cluster runs now, where the bot knows it (the last succeeded rollout that
   * reached that cluster); clusters absent here run `stableVersion` (or the policy's).
   */
  stableVersions?: Record<string, string>;
}

/**
 * Turns a request into a complete plan from the policy, or explains what is wrong and what
 * would be right (the nearest service names for a typo, the allowed clusters, the stage rules).
 */
export function planFromPolicy(
  policy: Policy,
  request: RolloutRequest,
  context: PlanContext = {},
): RolloutPlan {
  const service = policy.services[request.service];
  if (!service) {
    const known = Object.keys(policy.services);
    const nearest = nearestNames(request.service, known);
    throw new PlanError(
      'unknown_service',
      `unknown service "${request.service}"` +
        (nearest.length > 0 ? `; did you mean ${nearest.map((n) => `"${n}"`).join(' or ')}?` : '') +
        ` Known services: ${known.join(', ') || 'none'}.`,
      nearest,
    );
  }
  if (!VERSION.test(request.version)) {
    throw new PlanError(
      'invalid_plan',
      `"${request.version}" is not a version: write it like 2.4.1, v2.4.1 or 2.4.1-rc.1`,
    );
  }
  const clusters = request.clusters ?? service.clusters;
  const foreign = clusters.filter((c) => !service.clusters.includes(c));
  if (foreign.length > 0) {
    throw new PlanError(
      'unknown_cluster',
      `${request.service} does not run in ${foreign.join(', ')}; its clusters are ${service.clusters.join(', ')}`,
      service.clusters,
    );
  }
  const strategy = request.strategy ?? service.strategy ?? policy.defaults.strategy;
  const weights =
    request.stages ??
    (request.strategy && request.strategy !== (service.strategy ?? policy.defaults.strategy)
      ? defaultWeights(strategy)
      : (service.stages ?? policy.defaults.stages));
  const approveAt = request.approveAt ?? service.approveAt ?? policy.defaults.approveAt;
  const bakeMs = request.bakeMs ?? service.bake ?? policy.defaults.bake;
  const loosened = loosening(policy, request, { clusters, strategy, weights, approveAt, bakeMs });
  // A strategy the policy does not allow is the first thing to say: its stages differ anyway.
  if (loosened.strategy) refuseLoosening(policy, request, [loosened.strategy]);
  const problems = planProblems({
    strategy,
    stages: weights.map((weight) => ({ weight })),
    clusters,
  });
  const missingApproval = approveAt.filter((w) => !weights.includes(w));
  if (missingApproval.length > 0) {
    problems.push({
      path: ['approveAt'],
      message: `--approve-at ${missingApproval.join(',')} is not one of the stages ${weights.join(',')}`,
    });
  }
  const gate = gateFor(policy, service);
  const mirrorPercent = (service.blueGreen ?? policy.defaults.blueGreen).mirrorPercent;
  // The policy refuses such a blue-green service at load; a canary service switched to blue-green
  // by the request is caught here, before a preview is deployed that no gate could ever pass.
  if (
    strategy === 'blue-green' &&
    mirrorPercent === undefined &&
    (gate.webhooks ?? []).length === 0
  ) {
    problems.push({
      path: ['strategy'],
      message: `--strategy blue-green needs a way to judge the preview, which gets no live traffic at 0%: ${request.service} has no services.${request.service}.blueGreen.mirrorPercent and no gate.webhooks in the policy`,
    });
  }
  if (problems.length > 0) {
    throw new PlanError('invalid_plan', problems.map((p) => p.message).join('; '));
  }
  if (loosened.others.length > 0) refuseLoosening(policy, request, loosened.others);
  refuseUnapprovable(request, service, approveAt);
  const { permissions } = service;
  const stages: Stage[] = weights.map((weight) => ({
    weight,
    bakeMs,
    gate: approveAt.includes(weight)
      ? {
          ...gate,
          approval: {
            approvers: permissions.approve,
            required: permissions.approvalsRequired,
            allowSelfApproval: !permissions.fourEyes,
            remindAfterMs: permissions.approvalTimeout,
            escalateAfterMs: permissions.approvalEscalateAfter ?? 2 * permissions.approvalTimeout,
            onTimeout: permissions.approvalTimeoutAction,
          },
        }
      : gate,
  }));
  const fallback = context.stableVersion ?? service.stableVersion;
  const perCluster = Object.fromEntries(
    clusters.map((c) => [c, context.stableVersions?.[c] ?? fallback]),
  );
  const distinct = new Set(Object.values(perCluster));
  // The policy's waves, restricted to the clusters this rollout runs in (a partial rollout).
  const waves = wavesOf(policy, request.service)
    .map((wave) => wave.filter((c) => clusters.includes(c)))
    .filter((wave) => wave.length > 0);
  const plan = RolloutPlan.safeParse({
    service: request.service,
    version: request.version,
    // One stable version for all when they agree; the first cluster's, beside each one's, if not.
    stableVersion: perCluster[clusters[0]!] ?? fallback,
    ...(distinct.size > 1 && { stableVersions: perCluster }),
    strategy,
    ...(strategy === 'blue-green' && mirrorPercent !== undefined && { mirrorPercent }),
    ...dependentsIn(policy, request.service, clusters),
    clusters,
    // Several waves only: a plan of one wave is today's plan, byte for byte.
    ...(waves.length > 1 && { waves }),
    stages,
    startedBy: request.startedBy,
    ...(request.reason ? { reason: request.reason } : {}),
  });
  // The Slack surface checks every limit as it parses; a caller that did not still gets an
  // answer that says what is wrong, not a schema error.
  if (!plan.success) {
    throw new PlanError(
      'invalid_plan',
      plan.error.issues.map((i) => `${i.path.join('.') || 'plan'}: ${i.message}`).join('; '),
    );
  }
  return plan.data;
}

/**
 * What a request loosens. By default a request may only make a rollout more careful than its policy: every stage weight
 * the policy has (more in between is fine), a bake at least as long, every approval point (more
 * is fine), all of the service's clusters and its strategy. `overrides` in the policy names what
 * a starter may loosen; a refusal says which field forbids it.
 */
function loosening(
  policy: Policy,
  request: RolloutRequest,
  plan: {
    clusters: string[];
    strategy: Strategy;
    weights: number[];
    approveAt: number[];
    bakeMs: number;
  },
): { strategy?: string; others: string[] } {
  const name = request.service;
  const service = policy.services[name]!;
  const allowed = service.overrides ?? policy.defaults.overrides;
  const from = (field: 'stages' | 'bake' | 'approveAt' | 'strategy') =>
    service[field] !== undefined ? `services.${name}.${field}` : `defaults.${field}`;
  const found: { strategy?: string; others: string[] } = { others: [] };
  const policyStrategy = service.strategy ?? policy.defaults.strategy;
  if (plan.strategy !== policyStrategy && !allowed.strategy) {
    found.strategy = `--strategy ${plan.strategy} differs from the policy's ${policyStrategy} (${from('strategy')})`;
  }
  // Another strategy (where the policy allows one) is judged against that strategy's own stages:
  // allowing a strategy is not allowing a canary that goes straight to 100%.
  if (!allowed.stages) {
    const policyWeights =
      plan.strategy === policyStrategy
        ? (service.stages ?? policy.defaults.stages)
        : defaultWeights(plan.strategy);
    const skipped = policyWeights.filter((w) => !plan.weights.includes(w));
    if (skipped.length > 0) {
      found.others.push(
        `--stages ${plan.weights.join(',')} leaves out the policy's stage(s) ${skipped.join(',')} (${plan.strategy === policyStrategy ? from('stages') : `${plan.strategy}'s stages`} is ${policyWeights.join(',')}); add stages, never skip them`,
      );
    }
  }
  const policyBake = service.bake ?? policy.defaults.bake;
  if (plan.bakeMs < policyBake && !allowed.bake) {
    found.others.push(
      `--bake ${formatDuration(plan.bakeMs)} is shorter than the policy's ${formatDuration(policyBake)} (${from('bake')}); a bake may only be longer`,
    );
  }
  const policyApprovals = service.approveAt ?? policy.defaults.approveAt;
  const dropped = policyApprovals.filter((w) => !plan.approveAt.includes(w));
  if (dropped.length > 0 && !allowed.approveAt) {
    found.others.push(
      `--approve-at ${plan.approveAt.join(',') || '(none)'} leaves out the approval the policy requires at ${dropped.join(',')}% (${from('approveAt')}); approvals may only be added`,
    );
  }
  const left = service.clusters.filter((c) => !plan.clusters.includes(c));
  if (left.length > 0 && !allowed.clusters) {
    found.others.push(
      `--clusters ${plan.clusters.join(',')} leaves out ${left.join(', ')} (services.${name}.clusters); partial rollouts are not allowed`,
    );
  }
  return found;
}

function refuseLoosening(policy: Policy, request: RolloutRequest, refusals: string[]): never {
  const overridesField = policy.services[request.service]!.overrides
    ? `services.${request.service}.overrides`
    : 'defaults.overrides';
  throw new PlanError(
    'override_refused',
    `the policy does not let a start loosen it: ${refusals.join('; ')}. To allow it, set ${overridesField} (stages, bake, approveAt, clusters, strategy).`,
  );
}

/**
 * Refuses a start that no one could ever approve: under four-eyes, a starter who is one of the
 * listed approvers leaves fewer people than the approvals required. User groups are counted as
 * unknown (anyone may be in them), so only plain user lists are checked.
 */
function refuseUnapprovable(
  request: RolloutRequest,
  service: ServicePolicy,
  approveAt: number[],
): void {
  const { approve, approvalsRequired, fourEyes } = service.permissions;
  if (approveAt.length === 0 || approve.length === 0 || !fourEyes) return;
  if (!approve.every((id) => id.startsWith('U') || id.startsWith('W'))) return;
  const others = approve.filter((id) => id !== request.startedBy);
  if (others.length < approvalsRequired) {
    throw new PlanError(
      'invalid_plan',
      `${request.startedBy} is one of ${request.service}'s ${approve.length} approver(s) and may not approve their own rollout (four-eyes), which leaves ${others.length} for the ${approvalsRequired} approval(s) required: ask ${others.join(', ') || 'another approver'} to start it, or change services.${request.service}.permissions`,
    );
  }
}

/**
 * The service's consumers that run in at least one of the rollout's clusters, each with its own
 * threshold checks (sequential ones need a canary of the consumer's own to compare with, so they
 * are not used here). A consumer whose gate has no threshold check has nothing to hold it to.
 */
function dependentsIn(
  policy: Policy,
  service: string,
  clusters: readonly string[],
): { dependents?: DependentWatch[] } {
  const dependents = consumersOf(policy.services, service).flatMap((name) => {
    const consumer = policy.services[name];
    const shared = clusters.filter((c) => consumer?.clusters.includes(c));
    if (consumer === undefined || shared.length === 0) return [];
    const { checks, minRequests } = gateFor(policy, consumer);
    return checks.length === 0 ? [] : [{ service: name, clusters: shared, checks, minRequests }];
  });
  return dependents.length > 0 ? { dependents } : {};
}

function defaultWeights(strategy: Strategy): number[] {
  return strategy === 'blue-green' ? [0, 100] : [5, 25, 50, 100];
}

/** A service's gate: its own `gate` fields over `defaults.gate`. */
export function gateFor(policy: Policy, service: ServicePolicy): Gate {
  // Field by field: a field the service leaves out (undefined) keeps the default's value.
  const own = Object.fromEntries(
    Object.entries(service.gate ?? {}).filter(([, value]) => value !== undefined),
  );
  const merged: GatePolicy = { ...policy.defaults.gate, ...own };
  const { checks, sequential } = planChecks(merged.checks);
  return {
    checks,
    ...(sequential.length > 0 ? { sequential } : {}),
    ...(merged.webhooks.length > 0 && {
      webhooks: merged.webhooks.map((w) => ({
        name: w.name,
        url: w.url,
        timeoutMs: w.timeout,
        retries: w.retries,
        expect: w.expect,
      })),
    }),
    minRequests: merged.minRequests,
    intervalMs: merged.interval,
    failureLimit: merged.failureLimit,
  };
}
