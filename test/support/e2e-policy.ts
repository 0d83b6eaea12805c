import type { Fault } from '../../shared/config/simulation.js';

export const STARTER = 'U0STARTER';
export const LEAD = 'U0LEAD';
export const OUTSIDER = 'U0OUTSIDER';

/**
 * A policy for end-to-end runs: the same shape as config/policy.yaml with durations short enough
 * for a test (bakes of a few hundred milliseconds) and enough simulated traffic per window for
 * gates to judge.
 */
export function e2ePolicyYaml(faults: Fault[] = []): string {
  return `
clusters:
  eu-west: {}
  us-east: {}
defaults:
  stages: [5, 25, 50, 100]
  bake: 300ms
  gate:
    interval: 100ms
    minRequests: 20
    failureLimit: 2
    checks:
      - { metric: error_rate, mode: absolute, max: 0.05 }
      - { metric: latency_p99, mode: relative, max: 1.5 }
services:
  checkout:
    channel: C0CHECKOUT
    oncall: S0ONCALL
    clusters: [eu-west, us-east]
    stableVersion: 2.4.0
  payments:
    channel: C0PAYMENTS
    oncall: S0ONCALL
    clusters: [eu-west, us-east]
    stableVersion: 1.0.0
    stages: [10, 50, 100]
    approveAt: [50]
    permissions:
      approve: [${LEAD}, ${STARTER}]
      abort: [${LEAD}, ${STARTER}]
      fourEyes: true
  search:
    channel: C0SEARCH
    clusters: [eu-west]
    stableVersion: 7.1.0
    strategy: blue-green
    stages: [0, 100]
    # The preview at weight 0 gets no live requests: the gateway mirrors 5% of them to it.
    blueGreen: { mirrorPercent: 5 }
simulation:
  seed: 7
  traffic:
    requestsPerSecond: 20000
  faults: ${JSON.stringify(faults)}
`;
}
