import { describe, expect, it } from 'vitest';
import { Policy } from '../config/policy.js';
import type { ContractChecks, ContractVerdict } from '../ports/contract-checks.js';
import {
  askContractChecks,
  contractCheckId,
  contractChecksBefore,
  contractChecksFor,
  decideContracts,
  type ContractAnswer,
  type ContractCheck,
} from './contract-gate.js';
import { planRelease } from './plan.js';

/**
 * A policy where each service of `graph` depends on the listed providers, each edge checked with
 * Pact unless `unchecked` names it (`consumer→provider`), in environment `production`.
 */
function aContractPolicy(
  graph: Record<string, string[]>,
  options: {
    unchecked?: string[];
    consumerStartsAt?: number;
    pacticipants?: Record<string, string>;
  } = {},
): Policy {
  return Policy.parse({
    clusters: { 'eu-west': {} },
    pact: { environment: 'production', pacticipants: options.pacticipants ?? {} },
    release: options.consumerStartsAt ? { consumerStartsAt: options.consumerStartsAt } : {},
    services: Object.fromEntries(
      Object.entries(graph).map(([name, dependsOn]) => {
        const contracts = dependsOn.filter((p) => !options.unchecked?.includes(`${name}→${p}`));
        return [
          name,
          {
            channel: 'C0RELEASE',
            clusters: ['eu-west'],
            ...(dependsOn.length > 0 && { dependsOn }),
            ...(contracts.length > 0 && { contracts }),
          },
        ];
      }),
    ),
  });
}

const GRAPH = { payments: [], ledger: [], checkout: ['payments', 'ledger'], search: [] };
const yes: ContractVerdict = {
  verdict: 'yes',
  reason: 'All required verification results are published and successful',
};
const summarize = (checks: ContractCheck[]) =>
  checks.map((c) => `${c.member} ${c.moment} ${contractCheckId(c).split(':').slice(2).join(':')}`);

describe('contractChecksFor', () => {
  it('checks a consumer against its provider of the release by version, and against the environment for one outside it', () => {
    const policy = aContractPolicy(GRAPH);
    const plan = planRelease(policy, [
      { service: 'checkout', version: '3.1.0' },
      { service: 'payments', version: '2.0.0' },
      { service: 'search', version: '1.4.0' },
    ]);
    expect(summarize(contractChecksFor(plan, policy))).toEqual([
      // payments is a provider of a checked edge: checked against the consumers as deployed.
      'payments before_widening payments@2.0.0 → production',
      'checkout before_start checkout@3.1.0 ↔ payments@2.0.0',
      // ledger is not in the release: checkout meets it as deployed.
      'checkout before_start checkout@3.1.0 → production',
    ]);
    const [widening] = contractChecksFor(plan, policy);
    expect(widening?.why).toBe(
      'payments@2.0.0 serves the versions of checkout deployed in production',
    );
  });

  it('adds the environment check for a consumer that starts while its provider is partly out (consumerStartsAt)', () => {
    const policy = aContractPolicy(
      { payments: [], checkout: ['payments'] },
      { consumerStartsAt: 50 },
    );
    const plan = planRelease(policy, [
      { service: 'payments', version: '2.0.0' },
      { service: 'checkout', version: '3.1.0' },
    ]);
    const start = contractChecksBefore(plan, policy, 'checkout', 'before_start');
    expect(summarize(start)).toEqual([
      'checkout before_start checkout@3.1.0 ↔ payments@2.0.0',
      'checkout before_start checkout@3.1.0 → production',
    ]);
    expect(start[1]?.why).toContain('release.consumerStartsAt');
  });

  it('asks about broker names (pact.pacticipants), not service names', () => {
    const policy = aContractPolicy(
      { payments: [], checkout: ['payments'] },
      { pacticipants: { payments: 'payments-api' } },
    );
    const plan = planRelease(policy, [
      { service: 'payments', version: '2.0.0' },
      { service: 'checkout', version: '3.1.0' },
    ]);
    expect(contractChecksBefore(plan, policy, 'checkout', 'before_start')[0]?.query).toEqual({
      pacticipant: 'checkout',
      version: '3.1.0',
      to: { pacticipant: 'payments-api', version: '2.0.0' },
    });
  });

  it('asks nothing about edges the policy does not check, nor without a pact section', () => {
    const policy = aContractPolicy(GRAPH, { unchecked: ['checkout→payments', 'checkout→ledger'] });
    const plan = planRelease(policy, [
      { service: 'checkout', version: '3.1.0' },
      { service: 'payments', version: '2.0.0' },
    ]);
    expect(contractChecksFor(plan, policy)).toEqual([]);
    // A policy object without its pact: section (the loader refuses contracts without one).
    const bare = structuredClone(aContractPolicy(GRAPH));
    delete bare.pact;
    expect(contractChecksFor(plan, bare)).toEqual([]);
  });

  it('asks each question once per member and moment', () => {
    // With consumerStartsAt, each of checkout's two providers in the release asks for the same
    // environment check: it is asked once.
    const policy = aContractPolicy(
      { payments: [], ledger: [], checkout: ['payments', 'ledger'] },
      { consumerStartsAt: 25 },
    );
    const plan = planRelease(policy, [
      { service: 'checkout', version: '3.1.0' },
      { service: 'payments', version: '2.0.0' },
      { service: 'ledger', version: '9.0.0' },
    ]);
    const start = contractChecksBefore(plan, policy, 'checkout', 'before_start');
    expect(summarize(start)).toEqual([
      'checkout before_start checkout@3.1.0 ↔ payments@2.0.0',
      'checkout before_start checkout@3.1.0 → production',
      'checkout before_start checkout@3.1.0 ↔ ledger@9.0.0',
    ]);
  });
});

const check = (member: string, pacticipant = member): ContractCheck => ({
  member,
  moment: 'before_start',
  query: { pacticipant, version: '1.0.0', to: { environment: 'production' } },
  why: 'test',
});

describe('decideContracts', () => {
  it('proceeds when every check says yes, or there is none', () => {
    expect(decideContracts([{ check: check('checkout'), verdict: yes }])).toEqual({
      outcome: 'proceed',
    });
    expect(decideContracts([])).toEqual({ outcome: 'proceed' });
  });

  it("refuses on any no, with the broker's reason, even beside unknowns", () => {
    const answers: ContractAnswer[] = [
      { check: check('checkout'), verdict: { verdict: 'unknown', reason: 'broker down' } },
      {
        check: check('payments'),
        verdict: {
          verdict: 'no',
          reason:
            'The verification for the pact between version 1.0.0 of checkout and version 1.0.0 of payments failed',
        },
      },
    ];
    expect(decideContracts(answers)).toEqual({
      outcome: 'refuse',
      reason:
        'can-i-deploy says no: payments@1.0.0 → production: The verification for the pact between version 1.0.0 of checkout and version 1.0.0 of payments failed',
    });
  });

  it('holds with an alert on an unknown or unasked check, never proceeds', () => {
    const decision = decideContracts([
      { check: check('checkout'), verdict: yes },
      {
        check: check('payments'),
        verdict: {
          verdict: 'unknown',
          reason: 'the Pact Broker did not answer',
          problem: 'unreachable',
        },
      },
      { check: check('search') },
    ]);
    expect(decision.outcome).toBe('hold');
    if (decision.outcome !== 'hold') return;
    expect(decision.reason).toBe(
      'contract checks unanswered: payments@1.0.0 → production: the Pact Broker did not answer; search@1.0.0 → production: not asked yet',
    );
    expect(decision.alert).toMatch(
      /^Contract checks for payments, search could not be answered, so the release waits/,
    );
  });
});

describe('askContractChecks', () => {
  it('asks each question through the port and pairs the verdicts with their checks', async () => {
    const asked: string[] = [];
    const port: ContractChecks = {
      canIDeploy: (query) => {
        asked.push(query.pacticipant);
        return Promise.resolve(
          query.pacticipant === 'payments' ? { verdict: 'no', reason: 'failed' } : yes,
        );
      },
    };
    const answers = await askContractChecks(port, [check('checkout'), check('payments')]);
    expect(answers.map((a) => [a.check.member, a.verdict?.verdict])).toEqual([
      ['checkout', 'yes'],
      ['payments', 'no'],
    ]);
    expect(asked).toEqual(['checkout', 'payments']);
  });

  it('turns a port that throws into an unknown verdict, which holds', async () => {
    const broken: ContractChecks = {
      canIDeploy: () => Promise.reject(new Error('socket hang up')),
    };
    const answers = await askContractChecks(broken, [check('checkout')]);
    expect(answers[0]?.verdict).toEqual({
      verdict: 'unknown',
      reason: 'the check could not be asked: socket hang up',
    });
    expect(decideContracts(answers).outcome).toBe('hold');
  });
});
