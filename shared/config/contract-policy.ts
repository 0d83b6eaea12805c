import { z } from 'zod';
import { ServiceName } from '../rollout/plan.js';

/**
 * Contract checks per dependency edge (issue 12, item 5). A consumer lists which of its
 * `dependsOn` providers are checked with the Pact Broker before a release widens them:
 *
 * ```yaml
 * pact:
 *   environment: production        # the broker environment the fleet is deployed to
 *   pacticipants: { payments: payments-api }   # broker names that differ from service names
 * services:
 *   checkout:
 *     dependsOn: [payments]
 *     contracts: [payments]        # the checkout → payments edge is checked
 * ```
 *
 * Why a list of providers on the consumer and not a flag inside `dependsOn`: `dependsOn` stays a
 * plain list of names (what orders a release), and the checked edges are a subset of it that is
 * validated against it. The broker settings are top level because one broker and one environment
 * serve every service, like `release:`.
 */

/** `services.<name>.contracts`: the providers (each one of its `dependsOn`) checked with Pact. */
export const Contracts = z.array(ServiceName);
export type Contracts = z.infer<typeof Contracts>;

/** The top-level `pact:` section. */
export const PactPolicy = z.strictObject({
  /**
   * The Pact Broker environment the services are deployed to (can-i-deploy's `environment`):
   * what a new version must be compatible with. Required: a wrong default would be asked silently.
   */
  environment: z.string().min(1, 'the broker environment, e.g. production').max(100),
  /** A service's pacticipant (application) name in the broker where it differs from its name. */
  pacticipants: z.record(ServiceName, z.string().min(1).max(200)).default({}),
});
export type PactPolicy = z.infer<typeof PactPolicy>;

/** A problem found at load, at the path of the field that causes it. */
export interface ContractProblem {
  path: (string | number)[];
  message: string;
}

interface PolicyShape {
  services: Record<string, { dependsOn?: readonly string[]; contracts?: readonly string[] }>;
  pact?: PactPolicy | undefined;
}

/**
 * Every contract entry that is not one of the service's `dependsOn` (a check is per edge), listed
 * twice, named without a `pact:` section to say which environment to ask about, and every
 * `pact.pacticipants` key that is not a service.
 */
export function contractProblems(policy: PolicyShape): ContractProblem[] {
  const problems: ContractProblem[] = [];
  for (const [name, service] of Object.entries(policy.services)) {
    const contracts = service.contracts ?? [];
    const seen = new Set<string>();
    contracts.forEach((provider, i) => {
      const path = ['services', name, 'contracts', i];
      if (seen.has(provider)) {
        problems.push({ path, message: `"${provider}" is listed twice; list it once` });
      }
      seen.add(provider);
      if (!(service.dependsOn ?? []).includes(provider)) {
        problems.push({
          path,
          message:
            `"${provider}" is not in services.${name}.dependsOn: a contract check is asked per ` +
            `dependency edge; add "${provider}" to dependsOn or remove it here`,
        });
      }
    });
    if (contracts.length > 0 && policy.pact === undefined) {
      problems.push({
        path: ['services', name, 'contracts'],
        message:
          'names contract checks but the policy has no top-level pact: section; add ' +
          'pact.environment (the Pact Broker environment these services are deployed to, e.g. production)',
      });
    }
  }
  for (const service of Object.keys(policy.pact?.pacticipants ?? {})) {
    if (!(service in policy.services)) {
      problems.push({
        path: ['pact', 'pacticipants', service],
        message: `unknown service "${service}"; known services: ${Object.keys(policy.services).join(', ') || 'none'}`,
      });
    }
  }
  return problems;
}

/** One checked edge: `consumer` calls `provider` and has a pact with it in the broker. */
export interface ContractEdge {
  consumer: string;
  provider: string;
}

/** Every checked edge of the policy, in file order. */
export function contractEdges(policy: PolicyShape): ContractEdge[] {
  return Object.entries(policy.services).flatMap(([consumer, service]) =>
    (service.contracts ?? []).map((provider) => ({ consumer, provider })),
  );
}

/** True when the policy asks the broker anything: then the bot needs `PACT_BROKER_URL`. */
export function namesContractChecks(policy: PolicyShape): boolean {
  return contractEdges(policy).length > 0;
}

/** The service's name in the broker: `pact.pacticipants.<service>`, else the service name. */
export function pacticipantOf(policy: PolicyShape, service: string): string {
  return policy.pact?.pacticipants[service] ?? service;
}
