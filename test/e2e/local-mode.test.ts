import { RecordingNotifier } from '../../bot/adapters/recording-notifier.js';
import { startLocalMode } from '../../local/local-mode.js';
import { systemClock } from '../../shared/clock.js';
import type { Fault } from '../../shared/config/simulation.js';
import { parsePolicy } from '../../shared/config/policy-loader.js';
import { silentLogger } from '../../shared/log.js';
import { e2ePolicyYaml } from '../support/e2e-policy.js';
import { describeRolloutScenarios } from './rollout-scenarios.js';
import { describeWaveScenarios } from './wave-scenarios.js';
import { describeDependentScenarios } from './dependent-scenarios.js';
import { RecordingReleaseNotifier } from '../../bot/adapters/recording-release-notifier.js';
import { describeReleaseScenarios, type ReleaseHarness } from './release-scenarios.js';
import { describeReleaseContractScenarios } from './release-contract-scenarios.js';
import { describeReleaseBudgetScenarios } from './release-budget-scenarios.js';
import type { ContractChecks } from '../../shared/ports/contract-checks.js';

async function startLocal({
  faults,
  policyYaml,
  contracts,
}: {
  faults?: Fault[];
  policyYaml?: string;
  contracts?: ContractChecks;
}): Promise<ReleaseHarness> {
  const notifier = new RecordingNotifier();
  const releaseNotifier = new RecordingReleaseNotifier();
  const local = await startLocalMode({
    adapters: { releaseNotifier, ...(contracts && { contracts }) },
    policy: parsePolicy(policyYaml ?? e2ePolicyYaml(faults), 'e2e-policy.yaml'),
    notifier,
    clock: systemClock,
    logger: silentLogger,
    samplingIntervalMs: 50,
    heartbeatIntervalMs: 200,
    sweepTimer: false,
  });
  return {
    service: local.bot.service,
    releases: local.bot.releases,
    releaseNotifier,
    notifier,
    routerWeight: async (cluster, service) =>
      local.clusters.get(cluster)?.route(service)?.canaryWeight,
    routeWrites: async (cluster, service) =>
      (local.clusters.get(cluster)?.routeWrites() ?? []).filter((w) => w.service === service),
    injectFault: async (cluster, fault) => {
      local.faults.inject(cluster, fault);
    },
    clearFaults: async (cluster) => {
      local.faults.clear(cluster);
    },
    stop: () => local.stop(),
  };
}

describeRolloutScenarios('local mode', startLocal);
describeWaveScenarios('local mode', startLocal, { runtimeFaults: true });
describeDependentScenarios('local mode', startLocal);
describeReleaseScenarios('local mode', startLocal, { runtimeFaults: true });
describeReleaseContractScenarios('local mode', startLocal);
describeReleaseBudgetScenarios('local mode', startLocal);
