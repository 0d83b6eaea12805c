import { ConfigError } from '../errors.js';
import type { Policy } from './policy.js';

/** Which routing key pages for what. Routing keys never leave this object but to the pager. */
export interface PagerRouting {
  /** The service's key, else the default one; `undefined`: the service is not paged. */
  forService(service: string): string | undefined;
  /**
   * The keys to page when a cluster's agent goes silent: the default key if set, else those of
   * the services that run there (each key once).
   */
  forCluster(cluster: string): string[];
  /** True when at least one key is set: paging is on. */
  readonly enabled: boolean;
}

/**
 * Builds the routing from the policy (`services.<name>.pagerduty.routingKeyEnv`) and the
 * environment (`PAGERDUTY_ROUTING_KEY`, the default for every service without its own). A variable
 * the policy names but the environment leaves unset is a `ConfigError` at start: paging that
 * silently does not page is worse than none.
 */
export function pagerRouting(
  policy: Policy,
  lookup: (variable: string) => string | undefined,
): PagerRouting {
  const fallback = nonEmpty(lookup('PAGERDUTY_ROUTING_KEY'));
  const keys = new Map<string, string>();
  for (const [name, service] of Object.entries(policy.services)) {
    const variable = service.pagerduty?.routingKeyEnv;
    if (variable === undefined) {
      if (fallback !== undefined) keys.set(name, fallback);
      continue;
    }
    const key = nonEmpty(lookup(variable));
    if (key === undefined) {
      throw new ConfigError(
        variable,
        `services.${name}.pagerduty.routingKeyEnv names ${variable}, which is not set: set it to the service's PagerDuty Events API v2 integration key, or remove pagerduty from the service`,
      );
    }
    keys.set(name, key);
  }
  return {
    enabled: keys.size > 0 || fallback !== undefined,
    forService: (service) => keys.get(service) ?? fallback,
    forCluster: (cluster) =>
      fallback !== undefined
        ? [fallback]
        : [
            ...new Set(
              Object.entries(policy.services)
                .filter(([, s]) => s.clusters.includes(cluster))
                .flatMap(([name]) => (keys.has(name) ? [keys.get(name)!] : [])),
            ),
          ],
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
