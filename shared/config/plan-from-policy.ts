import { RolloutError } from '../errors.js';
import {
  planProblems,
  RolloutPlan,
  type Gate,
  type Stage,
  type Strategy,
} from '../rollout/plan.js';
import type { GatePolicy, Policy, ServicePolicy } from './policy.js';

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
}

export class PlanError extends RolloutError {
  constructor(
    code: 'unknown_service' | 'unknown_cluster' | 'invalid_plan',
    message: string,
    readonly suggestions: string[] = [],
  ) {
    super(code, message);
  }
}

const VERSION = /^v?\d+(\.\d+){0,2}([-+][0-9A-Za-z.-]+)?$/;

/** Facts about the service that the policy file cannot know. */
export interface PlanContext {
  /**
   * The version the service runs now, as the bot knows it: the version of its last succeeded
   * rollout. Absent before the first one; the policy's `stableVersion` applies then.
   */
  stableVersion?: string;
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
  const bakeMs = request.bakeMs ?? service.bake ?? policy.defaults.bake;
  const stages: Stage[] = weights.map((weight) => ({
    weight,
    bakeMs,
    gate: approveAt.includes(weight)
      ? {
          ...gate,
          approval: {
            approvers: service.permissions.approve,
            required: service.permissions.approvalsRequired,
            allowSelfApproval: !service.permissions.fourEyes,
          },
        }
      : gate,
  }));
  return RolloutPlan.parse({
    service: request.service,
    version: request.version,
    stableVersion: context.stableVersion ?? service.stableVersion,
    strategy,
    ...(strategy === 'blue-green' && mirrorPercent !== undefined && { mirrorPercent }),
    clusters,
    stages,
    startedBy: request.startedBy,
    ...(request.reason ? { reason: request.reason } : {}),
  });
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
  return {
    checks: merged.checks,
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

/** Known names within a small edit distance of `name`, closest first (for "did you mean"). */
export function nearestNames(name: string, known: string[]): string[] {
  const scored = known
    .map((k) => ({ k, d: editDistance(name, k) }))
    .filter(
      ({ k, d }) =>
        d <= Math.max(2, Math.floor(k.length / 3)) || k.startsWith(name) || name.startsWith(k),
    );
  return scored
    .sort((a, b) => a.d - b.d)
    .slice(0, 3)
    .map(({ k }) => k);
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}
