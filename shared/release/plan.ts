import { z } from 'zod';
import { providersOf } from '../config/dependencies.js';
import { nearestNames, VERSION } from '../config/plan-from-policy.js';
import type { Policy } from '../config/policy.js';
import { ReleasePolicy } from '../config/release-policy.js';
import { wavesOf } from '../config/waves.js';
import { RolloutError } from '../errors.js';
import { ClusterName, INPUT_LIMITS, ServiceName } from '../rollout/plan.js';

/**
 * A release: several services' rollouts in one plan, providers before their consumers
 * (`/rollout start payments@2.0.0 checkout@3.1.0`). Each member is an ordinary rollout; the plan
 * says only in which order they may start. Pure: the policy and the members in, the plan out.
 */

export const ReleaseMember = z.strictObject({
  service: ServiceName,
  version: z.string().min(1).max(INPUT_LIMITS.version),
  /**
   * The members this one waits for: those it depends on, directly or through services outside
   * the release (checkout → cart → payments with cart not in the release waits for payments).
   */
  waitsFor: z.array(ServiceName),
  /** Its group: 0 waits for nothing; group g waits only for members of earlier groups. */
  group: z.number().int().nonnegative(),
  /** The clusters its rollout reaches, wave by wave (policy `waves`). */
  waves: z.array(z.array(ClusterName).min(1)).min(1),
});
export type ReleaseMember = z.infer<typeof ReleaseMember>;

export const ReleasePlan = z.strictObject({
  /** In a topological order of `dependsOn`: every member after the members it waits for. */
  members: z.array(ReleaseMember).min(2),
  /** Services by group: each group's members are independent of one another. */
  groups: z.array(z.array(ServiceName).min(1)).min(1),
  /** The policy's `release:` section when the release was planned: a later edit does not move it. */
  policy: ReleasePolicy,
});
export type ReleasePlan = z.infer<typeof ReleasePlan>;

/** A member as typed: `payments@2.0.0`. */
export interface ReleaseRequestMember {
  service: string;
  version: string;
}

/** A release that cannot be planned; `problems` lists every reason, each saying what would be right. */
export class ReleaseError extends RolloutError {
  constructor(
    readonly problems: string[],
    /** The nearest known names of the unknown services, for a "did you mean". */
    readonly suggestions: string[] = [],
  ) {
    super('invalid_release', `this release cannot be planned: ${problems.join('; ')}`);
  }
}

/**
 * Orders the members by the policy's `dependsOn` graph and says what each waits for, or throws
 * a `ReleaseError` naming every problem: fewer than two members, a service named twice, an
 * unknown service (with the nearest names), a version that is not one.
 */
export function planRelease(policy: Policy, members: readonly ReleaseRequestMember[]): ReleasePlan {
  refuseBadMembers(policy, members);
  const names = members.map((m) => m.service);
  const waitsFor = new Map(names.map((n) => [n, memberProviders(policy, n, new Set(names))]));
  const group = new Map<string, number>();
  // The policy's graph is acyclic (refused at load otherwise), so this recursion ends.
  const groupOf = (name: string): number => {
    const known = group.get(name);
    if (known !== undefined) return known;
    const g = Math.max(-1, ...waitsFor.get(name)!.map(groupOf)) + 1;
    group.set(name, g);
    return g;
  };
  const planned = members
    .map((m, i) => ({ m, i, g: groupOf(m.service) }))
    // Within a group, the order people typed: it is the order the dry run shows.
    .sort((a, b) => a.g - b.g || a.i - b.i)
    .map(({ m, g }) => ({
      service: m.service,
      version: m.version,
      waitsFor: names.filter((n) => waitsFor.get(m.service)!.includes(n)),
      group: g,
      waves: wavesOf(policy, m.service),
    }));
  const groups: string[][] = [];
  for (const member of planned) (groups[member.group] ??= []).push(member.service);
  const plan = ReleasePlan.safeParse({ members: planned, groups, policy: policy.release });
  // Every limit the schema holds is checked above; a caller that skipped them still gets words.
  if (!plan.success) {
    throw new ReleaseError(
      plan.error.issues.map((i) => `${i.path.join('.') || 'release'}: ${i.message}`),
    );
  }
  return plan.data;
}

function refuseBadMembers(policy: Policy, members: readonly ReleaseRequestMember[]): void {
  const problems: string[] = [];
  const suggestions: string[] = [];
  if (members.length < 2) {
    problems.push(
      `a release has at least two services (got ${members.length}); for one service, run /rollout start <service> <version>`,
    );
  }
  const known = Object.keys(policy.services);
  const seen = new Map<string, string>();
  for (const { service, version } of members) {
    const earlier = seen.get(service);
    if (earlier !== undefined) {
      problems.push(
        `${service} is named twice (${service}@${earlier} and ${service}@${version}); a release ships one version of each service`,
      );
      continue;
    }
    seen.set(service, version);
    if (!(service in policy.services)) {
      const near = nearestNames(service, known);
      suggestions.push(...near);
      problems.push(
        `unknown service "${service}"` +
          (near.length > 0 ? `; did you mean ${near.map((n) => `"${n}"`).join(' or ')}?` : '') +
          ` Known services: ${known.join(', ') || 'none'}`,
      );
    }
    if (version.length > INPUT_LIMITS.version) {
      problems.push(
        `the version of ${service} is ${version.length} characters; at most ${INPUT_LIMITS.version}`,
      );
    } else if (!VERSION.test(version)) {
      problems.push(
        `${service}@${version}: "${version}" is not a version; write it like 2.4.1, v2.4.1 or 2.4.1-rc.1`,
      );
    }
  }
  if (problems.length > 0) throw new ReleaseError(problems, suggestions);
}

/**
 * The members `service` depends on: following `dependsOn` through services outside the release,
 * stopping at each member reached (that member waits for its own providers).
 */
function memberProviders(policy: Policy, service: string, members: Set<string>): string[] {
  const found = new Set<string>();
  const visited = new Set<string>();
  const walk = (name: string): void => {
    for (const provider of providersOf(policy.services, name)) {
      if (visited.has(provider)) continue;
      visited.add(provider);
      if (members.has(provider)) found.add(provider);
      else walk(provider);
    }
  };
  walk(service);
  return [...found];
}
