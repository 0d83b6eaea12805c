import { contractEdges, pacticipantOf } from '../config/contract-policy.js';
import type { Policy } from '../config/policy.js';
import { describeError } from '../errors.js';
import {
  describeQuery,
  type CanIDeployQuery,
  type ContractChecks,
  type ContractVerdict,
} from '../ports/contract-checks.js';
import type { ReleasePlan } from './plan.js';

/**
 * Contract checks of a release (issue 12, item 5), pure: which can-i-deploy questions hold back
 * which member when, and what their answers mean for the release. The coordinator asks the
 * questions through the `ContractChecks` port and feeds the verdicts back.
 *
 * When, and why each question:
 *
 * - `before_start`, for a consumer (`services.<c>.contracts` names a provider `p`):
 *   - `p` in the release at version vp: `c@v ↔ p@vp` (the matrix, both ways): the consumer starts
 *     against the provider's new version, which the broker does not know as deployed;
 *   - `p` not in the release: `c@v → environment`: it meets the provider as deployed;
 *   - `p` in the release and `release.consumerStartsAt` set: also `c@v → environment`, since the
 *     consumer starts while the provider's earlier version still serves part of the traffic.
 * - `before_widening`, for a provider of any checked edge: `p@v → environment` before its first
 *   stage passes, so its canary meets the consumers as deployed (the older ones) at a small weight
 *   only; a "no" there stops it before it widens.
 *
 * Every question is also asked once before the release starts (`contractChecksFor` as a whole):
 * a "no" there refuses the release before any traffic moves. They are asked again at their moment,
 * because answers change as verifications are published (a release held for an unverified pact
 * goes on once the provider's CI verifies it).
 */

export type ContractMoment = 'before_start' | 'before_widening';

export interface ContractCheck {
  /** The member (service) this check holds back. */
  member: string;
  moment: ContractMoment;
  query: CanIDeployQuery;
  /** Why the question is asked, for people: `checkout@3.1.0 calls payments@2.0.0 of this release`. */
  why: string;
}

/** Every contract check of the release, member by member in plan order, each once. */
export function contractChecksFor(plan: ReleasePlan, policy: Policy): ContractCheck[] {
  const environment = policy.pact?.environment;
  const edges = contractEdges(policy);
  if (environment === undefined || edges.length === 0) return [];
  const versions = new Map(plan.members.map((m) => [m.service, m.version]));
  const checks: ContractCheck[] = [];
  const add = (check: ContractCheck): void => {
    const id = contractCheckId(check);
    if (!checks.some((c) => contractCheckId(c) === id)) checks.push(check);
  };
  const self = (service: string, version: string) => ({
    pacticipant: pacticipantOf(policy, service),
    version,
  });
  for (const { service, version } of plan.members) {
    const toEnvironment = { ...self(service, version), to: { environment } };
    for (const { provider } of edges.filter((e) => e.consumer === service)) {
      const providerVersion = versions.get(provider);
      if (providerVersion === undefined) {
        add({
          member: service,
          moment: 'before_start',
          query: toEnvironment,
          why: `${service}@${version} calls ${provider} as deployed in ${environment}`,
        });
        continue;
      }
      add({
        member: service,
        moment: 'before_start',
        query: { ...self(service, version), to: self(provider, providerVersion) },
        why: `${service}@${version} calls ${provider}@${providerVersion} of this release`,
      });
      if (plan.policy.consumerStartsAt !== undefined) {
        add({
          member: service,
          moment: 'before_start',
          query: toEnvironment,
          why:
            `${service}@${version} starts once ${provider} passed ${plan.policy.consumerStartsAt}% ` +
            `(release.consumerStartsAt), while ${provider}'s version deployed in ${environment} still serves`,
        });
      }
    }
    const consumers = edges.filter((e) => e.provider === service).map((e) => e.consumer);
    if (consumers.length > 0) {
      add({
        member: service,
        moment: 'before_widening',
        query: toEnvironment,
        why: `${service}@${version} serves the versions of ${consumers.join(', ')} deployed in ${environment}`,
      });
    }
  }
  return checks;
}

/** The checks that hold back `member` at `moment`. */
export function contractChecksBefore(
  plan: ReleasePlan,
  policy: Policy,
  member: string,
  moment: ContractMoment,
): ContractCheck[] {
  return contractChecksFor(plan, policy).filter((c) => c.member === member && c.moment === moment);
}

/** A stable id of a check, for storing its latest verdict with the release. */
export function contractCheckId(check: ContractCheck): string {
  return `${check.member}:${check.moment}:${describeQuery(check.query)}`;
}

/** A check and its verdict; no verdict means it was not asked (or its answer was lost). */
export interface ContractAnswer {
  check: ContractCheck;
  verdict?: ContractVerdict | undefined;
}

export type ContractGateDecision =
  /** Every check said yes (or there are none): go on. */
  | { outcome: 'proceed' }
  /**
   * A check said no: before the release started, refuse it; at a member's moment, stop that
   * member (a failure of the release: its rollback follows `release.onFailure`). `reason` is
   * the broker's, for the card.
   */
  | { outcome: 'refuse'; reason: string }
  /**
   * No check said no, but one could not be answered: wait (start nothing more, widen nothing),
   * post `alert` once to on-call, and ask again later. Never a pass.
   */
  | { outcome: 'hold'; reason: string; alert: string };

/** One decision for a set of answered checks: any no refuses; else any unknown holds. */
export function decideContracts(answers: readonly ContractAnswer[]): ContractGateDecision {
  const line = (a: ContractAnswer, reason: string) => `${describeQuery(a.check.query)}: ${reason}`;
  const no = answers.filter((a) => a.verdict?.verdict === 'no');
  if (no.length > 0) {
    return {
      outcome: 'refuse',
      reason: `can-i-deploy says no: ${no.map((a) => line(a, a.verdict!.reason)).join('; ')}`,
    };
  }
  const open = answers.filter((a) => a.verdict?.verdict !== 'yes');
  if (open.length === 0) return { outcome: 'proceed' };
  const reasons = open.map((a) => line(a, a.verdict?.reason ?? 'not asked yet')).join('; ');
  const members = [...new Set(open.map((a) => a.check.member))].join(', ');
  return {
    outcome: 'hold',
    reason: `contract checks unanswered: ${reasons}`,
    alert:
      `Contract checks for ${members} could not be answered, so the release waits (nothing more ` +
      `starts or widens) and asks again: ${reasons}`,
  };
}

/**
 * Asks every check through the port, all at once. The port's adapters never reject, but should one
 * (a bug), that check is `unknown` with the error: it holds, never passes.
 */
export async function askContractChecks(
  port: ContractChecks,
  checks: readonly ContractCheck[],
): Promise<ContractAnswer[]> {
  const verdicts = await Promise.allSettled(checks.map((c) => port.canIDeploy(c.query)));
  return checks.map((check, i) => {
    const settled = verdicts[i]!;
    return {
      check,
      verdict:
        settled.status === 'fulfilled'
          ? settled.value
          : {
              verdict: 'unknown',
              reason: `the check could not be asked: ${describeError(settled.reason)}`,
            },
    };
  });
}
