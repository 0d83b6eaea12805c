/**
 * The release's contract checks end to end as far as they are built: a planned release of
 * payments and checkout (checkout depends on payments, the edge checked), its questions asked
 * through the Pact Broker adapter over HTTP to the broker double, and the gate's decision. The
 * coordinator that acts on the decision is not part of this (see contract-gate.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PactBrokerChecks } from '../../bot/adapters/pact-broker-checks.js';
import { parsePolicy } from '../../shared/config/policy-loader.js';
import { createLogger } from '../../shared/log.js';
import {
  askContractChecks,
  contractChecksBefore,
  contractChecksFor,
  decideContracts,
} from '../../shared/release/contract-gate.js';
import { planRelease } from '../../shared/release/plan.js';
import { PactBrokerDouble } from '../support/pact-broker-double.js';

const TOKEN = 'release-contract-token';
const POLICY = parsePolicy(
  'clusters:\n  eu-west: {}\npact:\n  environment: production\nservices:\n' +
    '  payments:\n    channel: C0PAY\n    clusters: [eu-west]\n' +
    '  checkout:\n    channel: C0CO\n    clusters: [eu-west]\n    dependsOn: [payments]\n    contracts: [payments]\n',
  'policy.yaml',
);
const PLAN = planRelease(POLICY, [
  { service: 'checkout', version: '3.1.0' },
  { service: 'payments', version: '2.0.0' },
]);

let broker: PactBrokerDouble;
afterEach(() => broker?.stop());

/** What production runs, and the new versions' pacts as CI published them. */
async function brokerWith(
  newPair: 'verified' | 'failed' | 'unverified',
): Promise<PactBrokerDouble> {
  broker = await new PactBrokerDouble({ token: TOKEN }).start();
  broker
    .publishPact('checkout', '3.0.0', 'payments', 'old-contract')
    .publishVerification('payments', '1.9.0', 'checkout', '3.0.0', true)
    .recordDeployment('payments', '1.9.0', 'production')
    .recordDeployment('checkout', '3.0.0', 'production')
    // payments 2.0.0 still honours the contract of the checkout that runs now.
    .publishVerification('payments', '2.0.0', 'checkout', '3.0.0', true)
    .publishPact('checkout', '3.1.0', 'payments', 'new-contract');
  if (newPair !== 'unverified') {
    broker.publishVerification('payments', '2.0.0', 'checkout', '3.1.0', newPair === 'verified');
  }
  return broker;
}

function checksOn(url: string) {
  return new PactBrokerChecks({
    url,
    token: TOKEN,
    logger: createLogger('test', 'silent'),
    maxAttempts: 2,
    baseDelayMs: 10,
  });
}

describe('contract checks of a release, asked of the broker double', () => {
  it('proceeds when the new checkout is verified by the new payments and payments by the deployed checkout', async () => {
    const double = await brokerWith('verified');
    const answers = await askContractChecks(checksOn(double.url), contractChecksFor(PLAN, POLICY));
    expect(answers.map((a) => [a.check.member, a.check.moment, a.verdict?.verdict])).toEqual([
      ['payments', 'before_widening', 'yes'],
      ['checkout', 'before_start', 'yes'],
    ]);
    expect(decideContracts(answers)).toEqual({ outcome: 'proceed' });
  });

  it("refuses the release before it starts with the broker's reason when the new pair's verification failed", async () => {
    const double = await brokerWith('failed');
    const decision = decideContracts(
      await askContractChecks(checksOn(double.url), contractChecksFor(PLAN, POLICY)),
    );
    expect(decision).toEqual({
      outcome: 'refuse',
      reason:
        'can-i-deploy says no: checkout@3.1.0 ↔ payments@2.0.0: The verification for the pact between version 3.1.0 of checkout and version 2.0.0 of payments failed',
    });
  });

  it('holds checkout, but not payments, while the new pact is not verified yet, and proceeds once it is', async () => {
    const double = await brokerWith('unverified');
    const checks = checksOn(double.url);
    const widen = await askContractChecks(
      checks,
      contractChecksBefore(PLAN, POLICY, 'payments', 'before_widening'),
    );
    expect(decideContracts(widen)).toEqual({ outcome: 'proceed' });
    const start = contractChecksBefore(PLAN, POLICY, 'checkout', 'before_start');
    const held = decideContracts(await askContractChecks(checks, start));
    expect(held.outcome).toBe('hold');
    expect(held.outcome === 'hold' && held.reason).toContain(
      'There is no verified pact between version 3.1.0 of checkout and version 2.0.0 of payments',
    );
    // The provider's CI verifies the new pact: asked again, the release goes on.
    double.publishVerification('payments', '2.0.0', 'checkout', '3.1.0', true);
    expect(decideContracts(await askContractChecks(checks, start))).toEqual({ outcome: 'proceed' });
  });

  it('holds with an alert, never proceeds, when the broker is down', async () => {
    const double = await brokerWith('verified');
    const url = double.url;
    await double.stop();
    const decision = decideContracts(
      await askContractChecks(checksOn(url), contractChecksFor(PLAN, POLICY)),
    );
    expect(decision.outcome).toBe('hold');
    expect(decision.outcome === 'hold' && decision.alert).toMatch(
      /^Contract checks for payments, checkout could not be answered.*the Pact Broker did not answer/,
    );
  });
});
