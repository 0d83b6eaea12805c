import type { Fault } from '../../shared/config/simulation.js';

export const STARTER = 'U0STARTER';
export const LEAD = 'U0LEAD';
export const OUTSIDER = 'U0OUTSIDER';

/** The end-to-end gate, as the `defaults:` block of a policy writes it (indented two spaces). */
export const E2E_GATE_YAML = `  gate:
    interval: 100ms
    minRequests: 20
    failureLimit: 2
    checks:
      - { metric: error_rate, mode: absolute, max: 0.05 }
      - { metric: latency_p99, mode: relative, max: 1.5 }
`;

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
${E2E_GATE_YAML}services:
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

/**
 * The example policy (config/policy.yaml) at e2e speed, for the sequential judge: its gate and a
 * bake of six gate intervals, with each 50 ms sample holding what a 5 s sample holds at 1,000
 * requests/s (5,000 requests; 250 on the canary at 5%), baseline errors 0.5%.
 *
 * - `checkout`: today's threshold gate, as in the example;
 * - `orders`: the same gate plus a sequential check on errors (α 0.01, tolerance 1.2× stable);
 * - `ledger`: as `orders`, starting at 1%, where a window holds about 50 canary requests: the
 *   threshold gate's minimum of 50 leaves about half its evaluations inconclusive.
 */
export function judgePolicyYaml(faults: Fault[] = []): string {
  const checks = `
      - { metric: error_rate, mode: absolute, max: 0.02 }
      - { metric: latency_p99, mode: relative, max: 1.5 }`;
  const sequential = `${checks}
      - { metric: error_rate, mode: sequential, alpha: 0.01, maxRatio: 1.2 }`;
  // Each service gate is written out whole, so the timing never depends on how a partial gate
  // merges with `defaults.gate`.
  const timing = 'interval: 100ms\n      minRequests: 50\n      failureLimit: 2';
  return `
clusters:
  eu-west: {}
  us-east: {}
defaults:
  stages: [5, 25, 50, 100]
  bake: 600ms
  gate:
    interval: 100ms
    minRequests: 50
    failureLimit: 2
    checks:${checks}
services:
  checkout:
    channel: C0CHECKOUT
    clusters: [eu-west, us-east]
    stableVersion: 2.4.0
  orders:
    channel: C0ORDERS
    clusters: [eu-west, us-east]
    stableVersion: 3.0.0
    gate:
      ${timing}
      checks:${sequential}
  ledger:
    channel: C0LEDGER
    clusters: [eu-west, us-east]
    stableVersion: 5.0.0
    stages: [1, 25, 50, 100]
    gate:
      ${timing}
      checks:${sequential}
simulation:
  seed: 11
  traffic:
    requestsPerSecond: 100000
    baseErrorRate: 0.005
  faults: ${JSON.stringify(faults)}
`;
}
