import { vi } from 'vitest';
import { RecordingNotifier } from '../../bot/adapters/recording-notifier.js';
import { RecordingReleaseNotifier } from '../../bot/adapters/recording-release-notifier.js';
import type { ContractChecks } from '../../shared/ports/contract-checks.js';
import { e2ePolicyYaml } from '../support/e2e-policy.js';
import { startStack } from '../support/distributed-stack.js';
import { describeDependentScenarios } from './dependent-scenarios.js';
import { describeReleaseBudgetScenarios } from './release-budget-scenarios.js';
import { describeReleaseContractScenarios } from './release-contract-scenarios.js';
import { describeReleaseScenarios, type ReleaseHarness } from './release-scenarios.js';
import { describeRolloutScenarios } from './rollout-scenarios.js';
import { describeWaveScenarios } from './wave-scenarios.js';

/**
 * The scenarios of issue 3 in distributed mode: the Kafka test broker, a private Redis, the bot
 * (in this process, wired as `npm run bot` wires it) and two agent processes, one per cluster.
 */
// Processes start and join their consumer groups for each scenario: slower than local mode,
// more so on a busy machine.
vi.setConfig({ testTimeout: 60_000 });

/**
 * The stack for `policyYaml`, the bot in this process (asking `contracts` for can-i-deploy, when
 * given) and an agent process per cluster.
 */
async function startDistributed(
  policyYaml: string,
  {
    clusters = ['eu-west', 'us-east'],
    contracts,
  }: { clusters?: readonly string[]; contracts?: ContractChecks } = {},
): Promise<ReleaseHarness> {
  const stack = await startStack({ policyYaml });
  try {
    const notifier = new RecordingNotifier();
    const releaseNotifier = new RecordingReleaseNotifier();
    const [bot] = await Promise.all([
      stack.startBot(notifier, {}, releaseNotifier, contracts),
      ...clusters.map((cluster) => stack.startAgent(cluster)),
    ]);
    return {
      service: bot.bot.service,
      releases: bot.bot.releases,
      releaseNotifier,
      notifier,
      routerWeight: async (cluster, service) => stack.routerWeight(cluster, service),
      routeWrites: async (cluster, service) =>
        stack.routeWrites(cluster).filter((w) => w.service === service),
      stop: () => stack.stop(),
    };
  } catch (err) {
    await stack.stop();
    throw err;
  }
}

describeRolloutScenarios('distributed mode', ({ faults, policyYaml }) =>
  startDistributed(policyYaml ?? e2ePolicyYaml(faults)),
);
describeWaveScenarios('distributed mode', ({ policyYaml }) =>
  startDistributed(policyYaml, { clusters: ['staging', 'eu-west', 'us-east'] }),
);
describeDependentScenarios('distributed mode', ({ policyYaml }) => startDistributed(policyYaml));
describeReleaseScenarios('distributed mode', ({ policyYaml }) => startDistributed(policyYaml));
describeReleaseBudgetScenarios('distributed mode', ({ policyYaml }) =>
  startDistributed(policyYaml),
);
describeReleaseContractScenarios('distributed mode', ({ policyYaml, contracts }) =>
  startDistributed(policyYaml, { contracts }),
);
