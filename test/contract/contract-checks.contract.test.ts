import { afterEach, describe, expect, it } from 'vitest';
import { MemoryContractChecks } from '../../bot/adapters/memory-contract-checks.js';
import { PactBrokerChecks } from '../../bot/adapters/pact-broker-checks.js';
import { createLogger } from '../../shared/log.js';
import type {
  CanIDeployQuery,
  ContractChecks,
  ContractVerdict,
} from '../../shared/ports/contract-checks.js';
import { PactBrokerDouble } from '../support/pact-broker-double.js';

/**
 * The ContractChecks contract, against the Pact Broker adapter (on the broker double, over HTTP)
 * and the memory one. Each world sets up the same situations its own way: the Pact world publishes
 * pacts, verifications and deployments to the double, which computes the answers; the memory
 * world sets the verdicts the broker documents for them.
 */
interface World {
  checks: ContractChecks;
  /** `consumer@cv`'s pact verified by `provider@pv` with `outcome`; `provider@pv` runs in production. */
  given(
    outcome: 'passed' | 'failed' | 'unverified',
    consumer: [string, string],
    provider: [string, string],
  ): void;
  close(): Promise<void>;
}

const ENV = 'production';
const envQuery = (pacticipant: string, version: string): CanIDeployQuery => ({
  pacticipant,
  version,
  to: { environment: ENV },
});
const pairQuery = (a: [string, string], b: [string, string]): CanIDeployQuery => ({
  pacticipant: a[0],
  version: a[1],
  to: { pacticipant: b[0], version: b[1] },
});

async function pactWorld(): Promise<World> {
  const broker = await new PactBrokerDouble({ token: 'contract-suite-token' }).start();
  broker.createEnvironment(ENV);
  return {
    checks: new PactBrokerChecks({
      url: broker.url,
      token: 'contract-suite-token',
      logger: createLogger('test', 'silent'),
      maxAttempts: 1,
    }),
    given(outcome, [consumer, cv], [provider, pv]) {
      broker.publishPact(consumer, cv, provider);
      if (outcome !== 'unverified') {
        broker.publishVerification(provider, pv, consumer, cv, outcome === 'passed');
      } else {
        broker.createVersion(provider, pv);
      }
      broker.recordDeployment(provider, pv, ENV);
    },
    close: () => broker.stop(),
  };
}

function memoryWorld(): World {
  const checks = new MemoryContractChecks({
    verdict: 'no',
    reason: 'No pacts or verifications have been published for this version',
  });
  return {
    checks,
    given(outcome, consumer, provider) {
      const between = `version ${consumer[1]} of ${consumer[0]} and version ${provider[1]} of ${provider[0]}`;
      const verdict: ContractVerdict =
        outcome === 'passed'
          ? {
              verdict: 'yes',
              reason: 'All required verification results are published and successful',
            }
          : outcome === 'failed'
            ? { verdict: 'no', reason: `The verification for the pact between ${between} failed` }
            : { verdict: 'unknown', reason: `There is no verified pact between ${between}` };
      checks.answer(envQuery(...consumer), verdict);
      checks.answer(pairQuery(consumer, provider), verdict);
    },
    close: () => Promise.resolve(),
  };
}

describe.each([
  ['pact broker', pactWorld],
  ['memory', memoryWorld],
])('ContractChecks contract: %s', (_name, create) => {
  let world: World;
  afterEach(() => world?.close());

  it('says yes for versions whose pact the provider verified, against the environment and the version', async () => {
    world = await create();
    world.given('passed', ['checkout', '3.1.0'], ['payments', '2.0.0']);
    for (const query of [
      envQuery('checkout', '3.1.0'),
      pairQuery(['checkout', '3.1.0'], ['payments', '2.0.0']),
    ]) {
      const answer = await world.checks.canIDeploy(query);
      expect(answer.verdict).toBe('yes');
      expect(answer.reason).toContain('successful');
    }
  });

  it('says no, with the reason, when the verification failed', async () => {
    world = await create();
    world.given('failed', ['checkout', '3.1.0'], ['payments', '2.0.0']);
    const answer = await world.checks.canIDeploy(
      pairQuery(['checkout', '3.1.0'], ['payments', '2.0.0']),
    );
    expect(answer.verdict).toBe('no');
    expect(answer.reason).toMatch(
      /verification for the pact between version 3\.1\.0 of checkout .* failed/,
    );
  });

  it('says unknown, never yes, when the pact is not verified yet', async () => {
    world = await create();
    world.given('unverified', ['checkout', '3.1.0'], ['payments', '2.0.0']);
    const answer = await world.checks.canIDeploy(envQuery('checkout', '3.1.0'));
    expect(answer.verdict).toBe('unknown');
    expect(answer.reason).toContain('There is no verified pact between version 3.1.0 of checkout');
  });

  it('does not say yes for a version nobody published, nor carry one answer over to another version', async () => {
    world = await create();
    world.given('passed', ['checkout', '3.1.0'], ['payments', '2.0.0']);
    const other = await world.checks.canIDeploy(envQuery('checkout', '3.2.0'));
    expect(other.verdict).toBe('no');
    expect(other.reason).toContain('No pacts or verifications have been published');
  });

  it('answers the same question the same way when asked again, also concurrently', async () => {
    world = await create();
    world.given('failed', ['checkout', '3.1.0'], ['payments', '2.0.0']);
    const query = envQuery('checkout', '3.1.0');
    const answers = await Promise.all([1, 2, 3].map(() => world.checks.canIDeploy(query)));
    expect(new Set(answers.map((a) => a.verdict))).toEqual(new Set(['no']));
    expect(answers[0]).toEqual(answers[2]);
  });
});
