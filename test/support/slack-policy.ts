import { E2E_GATE_YAML } from './e2e-policy.js';
import type { Fault } from '../../shared/config/simulation.js';

/** People and groups of the Slack end-to-end policy. */
export const SLACK_PEOPLE = {
  STARTER: 'U0STARTER',
  LEAD: 'U0LEAD',
  OUTSIDER: 'U0OUTSIDER',
  /** Not listed by name: may start checkout through the S0DEPLOYERS group. */
  DEPLOYER: 'U0DEPLOYER',
  /** Not listed by name: may approve payments through the S0LEADS group. */
  GROUP_LEAD: 'U0GROUPLEAD',
} as const;

export const SLACK_GROUPS: Record<string, string[]> = {
  S0DEPLOYERS: [SLACK_PEOPLE.DEPLOYER],
  S0LEADS: [SLACK_PEOPLE.GROUP_LEAD],
  S0ONCALL: ['U0PAGER'],
};

export const CHANNELS = { checkout: 'C0CHECKOUT', payments: 'C0PAYMENTS', search: 'C0SEARCH' };

/**
 * The end-to-end policy of test/support/e2e-policy.ts with permissions that exercise the Slack
 * surface: checkout may be started only by the starter or the deployers group (anyone may
 * abort); payments needs an approval at 50% from the lead or the leads group, four-eyes.
 * Bakes of a few hundred milliseconds, so a whole rollout takes a few seconds.
 */
export function slackPolicyYaml(faults: Fault[] = [], bake = '300ms'): string {
  const { STARTER, LEAD } = SLACK_PEOPLE;
  return `
clusters:
  eu-west: {}
  us-east: {}
defaults:
  stages: [5, 25, 50, 100]
  bake: ${bake}
${E2E_GATE_YAML}services:
  checkout:
    channel: ${CHANNELS.checkout}
    oncall: S0ONCALL
    clusters: [eu-west, us-east]
    stableVersion: 2.4.0
    permissions:
      start: [${STARTER}, S0DEPLOYERS]
  payments:
    channel: ${CHANNELS.payments}
    oncall: S0ONCALL
    clusters: [eu-west, us-east]
    stableVersion: 1.0.0
    stages: [10, 50, 100]
    approveAt: [50]
    permissions:
      approve: [${LEAD}, S0LEADS, ${STARTER}]
      abort: [${LEAD}, ${STARTER}]
      fourEyes: true
  search:
    channel: ${CHANNELS.search}
    clusters: [eu-west]
    stableVersion: 7.1.0
    strategy: blue-green
    stages: [0, 100]
    blueGreen: { mirrorPercent: 5 }
simulation:
  seed: 7
  traffic:
    requestsPerSecond: 20000
  faults: ${JSON.stringify(faults)}
`;
}
