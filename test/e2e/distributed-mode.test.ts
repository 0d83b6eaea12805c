import { vi } from 'vitest';
import { RecordingNotifier } from '../../bot/adapters/recording-notifier.js';
import { e2ePolicyYaml } from '../support/e2e-policy.js';
import { startStack } from '../support/distributed-stack.js';
import { describeRolloutScenarios } from './rollout-scenarios.js';
import { describeWaveScenarios, type WaveHarness } from './wave-scenarios.js';
import { describeDependentScenarios } from './dependent-scenarios.js';
import { RecordingReleaseNotifier } from '../../bot/adapters/recording-release-notifier.js';
import { describeReleaseScenarios, type ReleaseHarness } from './release-scenarios.js';
import { describeReleaseContractScenarios } from './release-contract-scenarios.js';
import { describeReleaseBudgetScenarios } from './release-budget-scenarios.js';

/**
 * The scenarios of issue 3 in distributed mode: the Kafka test broker, a private Redis, the bot
 * (in this process, wired as `npm run bot` wires it) and two agent processes, one per cluster.
 */
// Processes start and join their consumer groups for each scenario: slower than local mode,
// more so on a busy machine.
vi.setConfig({ testTimeout: 60_000 });

describeRolloutScenarios('distributed mode', async ({ faults, policyYaml }) => {
  const stack = await startStack({ policyYaml: policyYaml ?? e2ePolicyYaml(faults) });
  try {
    const notifier = new RecordingNotifier();
    const [bot] = await Promise.all([
      stack.startBot(notifier),
      stack.startAgent('eu-west'),
      stack.startAgent('us-east'),
    ]);
    return {
      service: bot.bot.service,
      notifier,
      routerWeight: async (cluster, service) => stack.routerWeight(cluster, service),
      stop: () => stack.stop(),
    };
  } catch (err) {
    await stack.stop();
    throw err;
  }
});

describeWaveScenarios('distributed mode', async ({ policyYaml }) => {
  const stack = await startStack({ policyYaml });
  try {
    const notifier = new RecordingNotifier();
    const [bot] = await Promise.all([
      stack.startBot(notifier),
      stack.startAgent('staging'),
      stack.startAgent('eu-west'),
      stack.startAgent('us-east'),
    ]);
    return {
      service: bot.bot.service,
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
});

describeDependentScenarios('distributed mode', async ({ policyYaml }): Promise<WaveHarness> => {
  const stack = await startStack({ policyYaml });
  try {
    const notifier = new RecordingNotifier();
    const [bot] = await Promise.all([
      stack.startBot(notifier),
      stack.startAgent('eu-west'),
      stack.startAgent('us-east'),
    ]);
    return {
      service: bot.bot.service,
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
});

/** The release scenarios' stack: the bot here, an agent process per cluster. */
async function releaseStack({ policyYaml }: { policyYaml: string }): Promise<ReleaseHarness> {
  const stack = await startStack({ policyYaml });
  try {
    const notifier = new RecordingNotifier();
    const releaseNotifier = new RecordingReleaseNotifier();
    const [bot] = await Promise.all([
      stack.startBot(notifier, {}, releaseNotifier),
      stack.startAgent('eu-west'),
      stack.startAgent('us-east'),
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

describeReleaseScenarios('distributed mode', releaseStack);
describeReleaseBudgetScenarios('distributed mode', releaseStack);

describeReleaseContractScenarios('distributed mode', async ({ policyYaml, contracts }) => {
  const stack = await startStack({ policyYaml });
  try {
    const notifier = new RecordingNotifier();
    const releaseNotifier = new RecordingReleaseNotifier();
    const [bot] = await Promise.all([
      stack.startBot(notifier, {}, releaseNotifier, contracts),
      stack.startAgent('eu-west'),
      stack.startAgent('us-east'),
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
});
