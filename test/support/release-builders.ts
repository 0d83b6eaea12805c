import { Policy } from '../../shared/config/policy.js';
import type { ReleasePolicy } from '../../shared/config/release-policy.js';

/**
 * A policy for release tests: each service of `graph` with the providers it depends on, all in
 * one cluster `eu-west` unless `waves` gives a service its own; `release` as given.
 */
export function aReleasePolicy(
  graph: Record<string, string[]>,
  options: { release?: Partial<ReleasePolicy>; waves?: Record<string, string[][]> } = {},
): Policy {
  const clusters = new Set(['eu-west', ...Object.values(options.waves ?? {}).flat(2)]);
  return Policy.parse({
    clusters: Object.fromEntries([...clusters].map((c) => [c, {}])),
    services: Object.fromEntries(
      Object.entries(graph).map(([name, dependsOn]) => {
        const waves = options.waves?.[name];
        return [
          name,
          {
            channel: 'C0RELEASE',
            clusters: waves ? waves.flat() : ['eu-west'],
            ...(dependsOn.length > 0 ? { dependsOn } : {}),
            ...(waves ? { waves } : {}),
          },
        ];
      }),
    ),
    release: options.release ?? {},
  });
}
